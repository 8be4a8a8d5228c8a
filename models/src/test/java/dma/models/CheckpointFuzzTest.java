package dma.models;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.SafetensorsException;
import dma.engine.testing.ReaderContract;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Fuzz test of {@link Checkpoint#load}: a safetensors file whose architecture comes from its metadata or is inferred
 * from its tensors' names and shapes, then built and filled. Every name, shape and number in it is the file's claim.
 * It must fail only with a SafetensorsException or an IllegalArgumentException naming the file, and build no model
 * larger than the file: heap and CPU-backend bytes together at most {@link ReaderContract#bound} of the file's size.
 *
 * <p>{@code mvn test} runs the inputs under {@code src/test/resources/dma/models/CheckpointFuzzTestInputs/checkpoint/}
 * (see {@link CheckpointFuzzSeeds}); {@code scripts/fuzz.sh checkpoint} fuzzes it. {@code @Timeout}: see the engine's
 * {@code ParsersFuzzTest}.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CheckpointFuzzTest {
    /** The head count a ViT file without metadata is read with (shapes do not tell it; any width is a multiple of 1). */
    private static final int HEADS = 1;
    private static final Path DIR = ReaderContract.scratchDirectory();

    static {
        // the first loads initialize what later ones share (Jackson, the backend, each family's classes): not the input's cost
        for (byte[] seed : CheckpointFuzzSeeds.seeds().values()) {
            try {
                Checkpoint.load(write("warm-up.safetensors", seed), CpuBackend.get(), HEADS).model().close();
            } catch (RuntimeException expected) {
                // most seeds are malformed
            }
        }
    }

    @FuzzTest(maxDuration = "10m")
    void checkpoint(byte[] input) {
        Path file = write("input.safetensors", input);
        CpuBackend cpu = CpuBackend.get();
        ReaderContract.check(file.toString(), ReaderContract.bound(input.length), cpu.memory(),
                List.of(SafetensorsException.class, IllegalArgumentException.class),
                () -> Checkpoint.load(file, cpu, HEADS).model().close());
    }

    private static Path write(String name, byte[] contents) {
        try {
            return Files.write(DIR.resolve(name), contents);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
