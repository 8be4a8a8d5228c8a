package dma.trainer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dma.engine.testing.ReaderContract;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.ConfigLoader.ConfigException;
import dma.trainer.config.Plan;
import dma.trainer.config.RunConfig;
import dma.trainer.data.CifarBinary;
import dma.trainer.data.DataShard;
import dma.trainer.data.Idx;
import dma.trainer.data.ImageFolder;
import dma.trainer.launch.LaunchRecord;
import dma.trainer.report.MetricsLog;
import dma.trainer.report.Summary;
import dma.trainer.stage.Attempt;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Fuzz tests of the trainer's readers of untrusted files: the data sets (IDX, CIFAR binary, an image in a class folder,
 * a DistData shard), the run config, and the files of a run that {@code dma status} and resumption read (result.json,
 * launch.json, attempt.json, metrics.jsonl, summary.json). Each writes the input where its reader looks and calls it;
 * {@link ReaderContract#check} asserts that only the reader's documented exception escapes, as one line naming the
 * file, and that the reader allocates at most {@link ReaderContract#bound} of what is on disk.
 *
 * <p>{@code mvn test} runs the inputs under {@code src/test/resources/dma/trainer/ReadersFuzzTestInputs/<method>/}
 * (see {@link ReadersFuzzSeeds}); {@code scripts/fuzz.sh <method>} fuzzes one. {@code @Timeout}: an input that takes
 * 10 s fails here and is a libFuzzer {@code -timeout} finding when fuzzing.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ReadersFuzzTest {
    private static final Path DIR = ReaderContract.scratchDirectory();
    private static final Path RUN = DIR.resolve("run");

    static {
        try {
            // a finished stage's output must exist for its result.json to be read (Stages.finished)
            Files.createDirectories(StageId.META.dir(RUN));
            Files.write(StageId.META.output(RUN), new byte[0]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // The first reads load what later ones share (Jackson's deserializers, ImageIO's readers): not an input's cost.
        ReadersFuzzTest warm = new ReadersFuzzTest();
        Map<String, Consumer<byte[]>> targets = Map.of("idx", warm::idx, "cifar", warm::cifar, "imageFolder", warm::imageFolder,
                "dataShard", warm::dataShard, "config", warm::config, "resultJson", warm::resultJson, "launchJson", warm::launchJson,
                "attemptJson", warm::attemptJson, "metricsJsonl", warm::metricsJsonl, "summaryJson", warm::summaryJson);
        targets.forEach((target, read) -> ReadersFuzzSeeds.seeds(target).values().forEach(seed -> {
            try {
                read.accept(seed);
            } catch (AssertionError | RuntimeException ignored) {
                // the first use of a path may allocate more than the bound: that is what warming up is for
            }
        }));
    }

    /** An IDX file (not gzipped): IllegalArgumentException. */
    @FuzzTest(maxDuration = "10m")
    void idx(byte[] input) {
        Path file = write(DIR.resolve("input-ubyte"), input);
        check(file, input.length, List.of(IllegalArgumentException.class), () -> Idx.read(file));
    }

    /**
     * CIFAR binary: the first byte chooses the layout (even: CIFAR-10, the rest of the input as each of data_batch_1..5.bin
     * and test_batch.bin; odd: CIFAR-100, as train.bin and test.bin). IllegalArgumentException.
     */
    @FuzzTest(maxDuration = "10m")
    void cifar(byte[] input) {
        Path dir = fresh("cifar");
        byte[] records = input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
        List<String> names = input.length > 0 && (input[0] & 1) == 1 ? List.of("train.bin", "test.bin")
                : List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin");
        for (String name : names) write(dir.resolve(name), records);
        check(dir, (long) names.size() * records.length, List.of(IllegalArgumentException.class), () -> CifarBinary.load(dir));
    }

    /**
     * An image folder with one class and one image, the input (whatever its format: the file is called image.png), and
     * an empty validation class. IllegalArgumentException. An image justifies what its format can pack into its bytes
     * (the reader rejects a header claiming more than {@link ImageFolder#MAX_PIXELS_PER_FILE_BYTE} pixels a byte), so the
     * bound adds 16 bytes for each pixel the file may hold: the decoder's raster (up to 8 a pixel, 16-bit RGBA), our
     * planar copy and the data set's.
     */
    @FuzzTest(maxDuration = "10m")
    void imageFolder(byte[] input) {
        Path dir = fresh("images");
        Path image = write(dir.resolve("train").resolve("a").resolve("image.png"), input);
        mkdirs(dir.resolve("val").resolve("a"));
        long pixels = Math.min(ImageFolder.MAX_PIXELS, ImageFolder.MAX_PIXELS_PER_FILE_BYTE * input.length);
        ReaderContract.check(image.toString(), ReaderContract.bound(input.length) + 16 * pixels, null, List.of(IllegalArgumentException.class),
                () -> ImageFolder.load(dir));
    }

    /** A DistData shard: IllegalArgumentException. */
    @FuzzTest(maxDuration = "10m")
    void dataShard(byte[] input) {
        Path file = write(DIR.resolve("input.shard"), input);
        check(file, input.length, List.of(IllegalArgumentException.class), () -> DataShard.read(file));
    }

    /**
     * A run config, read and checked as every command does ({@code new Plan}): ConfigException. A config with a budget
     * is only read: its Plan builds the model the config names and times a step of it, the cost of the run it asks for.
     */
    @FuzzTest(maxDuration = "10m")
    void config(byte[] input) {
        Path file = write(DIR.resolve("config.json"), input);
        check(file, input.length, List.of(ConfigException.class), () -> {
            RunConfig config = ConfigLoader.read(file);
            if (config.budget() == null) new Plan(config, file.toString());
        });
    }

    /** A stage's result.json as resumption and {@code dma status} read it (Stages.finished): UncheckedIOException. */
    @FuzzTest(maxDuration = "10m")
    void resultJson(byte[] input) {
        Path file = write(StageId.META.dir(RUN).resolve("result.json"), input);
        check(file, input.length, List.of(UncheckedIOException.class), () -> Stages.finished(RUN, StageId.META));
    }

    /** The run's launch.json ({@code dma status}, resubmission): UncheckedIOException. */
    @FuzzTest(maxDuration = "10m")
    void launchJson(byte[] input) {
        Path file = write(RUN.resolve(LaunchRecord.FILE), input);
        check(file, input.length, List.of(UncheckedIOException.class), () -> LaunchRecord.read(RUN));
    }

    /** A stage's attempt.json ({@code dma status}): an unreadable record is as good as none, so nothing may escape. */
    @FuzzTest(maxDuration = "10m")
    void attemptJson(byte[] input) {
        Path file = write(StageId.META.dir(RUN).resolve(Attempt.FILE), input);
        check(file, input.length, List.of(), () -> Attempt.read(RUN, StageId.META));
    }

    /** A stage's metrics.jsonl ({@code dma status}, the report's plots): its declared IOException. */
    @FuzzTest(maxDuration = "10m")
    void metricsJsonl(byte[] input) {
        Path file = write(DIR.resolve(MetricsLog.FILE), input);
        check(file, input.length, List.of(IOException.class), () -> MetricsLog.read(file));
    }

    /** A run's summary.json (the report, a study's results): its declared IOException. */
    @FuzzTest(maxDuration = "10m")
    void summaryJson(byte[] input) {
        Path file = write(DIR.resolve(Summary.JSON_FILE), input);
        check(file, input.length, List.of(IOException.class), () -> Summary.read(file));
    }

    private static void check(Path file, long bytesOnDisk, List<Class<? extends Throwable>> documented, ReaderContract.Read read) {
        ReaderContract.check(file.toString(), ReaderContract.bound(bytesOnDisk), null, documented, read);
    }

    /** An empty directory {@code name} under the scratch directory. */
    private static Path fresh(String name) {
        Path dir = DIR.resolve(name);
        ReaderContract.deleteTree(dir);
        return mkdirs(dir);
    }

    private static Path mkdirs(Path dir) {
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path write(Path file, byte[] contents) {
        try {
            Files.createDirectories(file.getParent());
            return Files.write(file, contents);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
