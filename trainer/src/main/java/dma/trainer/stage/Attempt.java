package dma.trainer.stage;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

/**
 * {@code <run>/<stage>/attempt.json}: who is running a stage, or why its last run failed, for {@code dma status}.
 * Written when a stage starts (state running, with the process, host and Slurm job) and again when it fails (state
 * failed, with the error); a finished stage is marked by its result.json instead. When the stage's directory cannot be
 * written, the record goes to {@code <run>/attempts/<stage>.json}; writing it is best effort, and a stage whose directory
 * is unusable still runs and fails with its own error.
 */
public final class Attempt {
    public static final String FILE = "attempt.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One attempt at a stage. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Record(@JsonProperty("state") String state, @JsonProperty("pid") long pid, @JsonProperty("host") String host,
                         @JsonProperty("started") String started, @JsonProperty("ended") String ended,
                         @JsonProperty("slurm_job") String slurmJob, @JsonProperty("error") String error) {}

    /** A stage's body. */
    @FunctionalInterface
    public interface Body<T> {
        T run() throws IOException;
    }

    private Attempt() {}

    /**
     * Runs {@code body} as an attempt at {@code stage}, recording it. An IOException comes out as an
     * UncheckedIOException naming the stage, so the command line prints one line rather than a stack trace.
     */
    public static <T> T run(Path runDir, StageId stage, Body<T> body) {
        Record start = new Record("running", ProcessHandle.current().pid(), host(), Instant.now().toString(), null, slurmJob(), null);
        write(runDir, stage, start);
        try {
            T result = body.run();
            write(runDir, stage, new Record("done", start.pid(), start.host(), start.started(), Instant.now().toString(), start.slurmJob(), null));
            return result;
        } catch (IOException e) {
            fail(runDir, stage, start, e.toString());
            throw new UncheckedIOException(stage + ": " + e, e);
        } catch (RuntimeException | Error e) {
            fail(runDir, stage, start, e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof UncheckedIOException
                    ? e.getMessage() : e.toString());
            throw e;
        }
    }

    private static void fail(Path runDir, StageId stage, Record start, String error) {
        write(runDir, stage, new Record("failed", start.pid(), start.host(), start.started(), Instant.now().toString(), start.slurmJob(), error));
    }

    /** The last attempt recorded for a stage, or null. */
    public static Record read(Path runDir, StageId stage) {
        for (Path f : new Path[]{stage.dir(runDir).resolve(FILE), fallback(runDir, stage)}) {
            if (!Files.isRegularFile(f)) continue;
            try {
                return JSON.readValue(f.toFile(), Record.class);
            } catch (IOException e) {
                // unreadable: as good as none
            }
        }
        return null;
    }

    /** Where the record goes when the stage's directory cannot be written: {@code <run>/attempts/<stage>.json}. */
    private static Path fallback(Path runDir, StageId stage) {
        return runDir.resolve("attempts").resolve(stage.name() + ".json");
    }

    private static void write(Path runDir, StageId stage, Record r) {
        try {
            writeIn(stage.dir(runDir), FILE, r);
            Files.deleteIfExists(fallback(runDir, stage));
        } catch (IOException | UncheckedIOException e) {
            try {
                writeIn(runDir.resolve("attempts"), stage.name() + ".json", r);
            } catch (IOException | UncheckedIOException ignored) {
                // best effort: the stage reports its own error
            }
        }
    }

    private static void writeIn(Path dir, String name, Record r) throws IOException {
        Files.createDirectories(dir);
        dma.engine.io.AtomicFile.write(dir.resolve(name), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r));
    }

    /** This process's Slurm job as {@code 12} or, in an array, {@code 12_3}; null outside Slurm. */
    static String slurmJob() {
        String array = System.getenv("SLURM_ARRAY_JOB_ID"), task = System.getenv("SLURM_ARRAY_TASK_ID");
        if (array != null && task != null) return array + "_" + task;
        return System.getenv("SLURM_JOB_ID");
    }

    public static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
