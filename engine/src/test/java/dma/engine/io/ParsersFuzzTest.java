package dma.engine.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.testing.ReaderContract;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Fuzz tests of the engine's reader of untrusted files: safetensors (header and data), on its own and as
 * {@link TensorFiles#load} builds tensors from it ({@code dma eval --inputs}). Each input is the whole file. The
 * reader must fail only with a {@link SafetensorsException} naming the file and allocate at most
 * {@link ReaderContract#bound} of the file's size (heap and backend together).
 *
 * <p>{@code mvn test} runs every input under {@code src/test/resources/dma/engine/io/ParsersFuzzTestInputs/<method>/}
 * (regression mode; see {@link ParsersFuzzSeeds} for what each is); {@code scripts/fuzz.sh} fuzzes one method.
 * {@code @Timeout}: an input that takes 10 s fails here and is a libFuzzer {@code -timeout} finding when fuzzing.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ParsersFuzzTest {
    private static final Path DIR = ReaderContract.scratchDirectory();

    static {
        // The first reads load what every later read shares (Jackson's classes, the CPU backend and its natives):
        // done once here on the seeds, outcomes ignored, so that what an input is measured for is the reader's own.
        for (byte[] seed : ParsersFuzzSeeds.seeds().values()) {
            Path file = write("warm-up.safetensors", seed);
            try {
                TensorFiles.load(file, CpuBackend.get()).values().forEach(Tensor::close);
            } catch (RuntimeException expected) {
                // most seeds are malformed
            }
        }
    }

    /** Safetensors.read and every tensor decoded to floats. */
    @FuzzTest(maxDuration = "10m")
    void safetensors(byte[] input) {
        Path file = write("input.safetensors", input);
        ReaderContract.check(file.toString(), ReaderContract.bound(input.length), null, List.of(SafetensorsException.class), () -> {
            for (HostTensor t : Safetensors.read(file).tensors().values()) t.toFloats();
        });
    }

    /** TensorFiles.load onto the CPU backend: float32 tensors of any stored dtype. */
    @FuzzTest(maxDuration = "10m")
    void tensorFiles(byte[] input) {
        Path file = write("input.safetensors", input);
        CpuBackend cpu = CpuBackend.get();
        ReaderContract.check(file.toString(), ReaderContract.bound(input.length), cpu.memory(), List.of(SafetensorsException.class), () -> {
            for (Tensor t : TensorFiles.load(file, cpu).values()) t.close();
        });
    }

    static Path write(String name, byte[] contents) {
        try {
            return Files.write(DIR.resolve(name), contents);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
