package dma.trainer.launch;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.trainer.report.JsonFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code <run>/launch.json}: how the run's stages were launched, for {@code dma status} and for resubmitting.
 * Only the launching process writes it; a new launch keeps the entries of stages it does not launch again.
 *
 * @param launcher      sequential, local or slurm
 * @param threads       threads of the whole-model stages (meta, assemble, finetune, e2e)
 * @param moduleThreads threads of each module stage
 * @param resume        the shell line that runs the rest of the pipeline (finished stages are skipped)
 * @param stages        per stage, how and where it runs
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LaunchRecord(@JsonProperty("launcher") String launcher, @JsonProperty("updated") String updated,
                           @JsonProperty("threads") int threads, @JsonProperty("module_threads") int moduleThreads,
                           @JsonProperty("resume") String resume, @JsonProperty("stages") Map<String, Entry> stages) {
    public static final String FILE = "launch.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One launched stage.
     *
     * @param job      the Slurm job: {@code 12}, or {@code 12_3} for an array task
     * @param pid      the local process
     * @param exit     the local process's exit status, once it ended
     * @param log      where its output goes
     * @param script   the sbatch script
     * @param resubmit the shell line that runs this stage alone again
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Entry(@JsonProperty("launcher") String launcher, @JsonProperty("job") String job, @JsonProperty("pid") Long pid,
                        @JsonProperty("exit") Integer exit, @JsonProperty("log") String log, @JsonProperty("script") String script,
                        @JsonProperty("resubmit") String resubmit) {
        public Entry withExit(int code) {
            return new Entry(launcher, job, pid, code, log, script, resubmit);
        }
    }

    /** The run's launch record, or null if it has none; one that cannot be read is an UncheckedIOException naming the file, in one line. */
    public static LaunchRecord read(Path runDir) {
        Path f = runDir.resolve(FILE);
        if (!Files.isRegularFile(f)) return null;
        return JsonFile.readUnchecked(JSON, f, LaunchRecord.class, "launch record");
    }

    /**
     * Records a launch: the launcher and resume line replace the old ones, the given entries replace theirs; the
     * other entries are kept if the launcher is the same (so a resubmission still shows the jobs of finished stages).
     */
    public static synchronized void update(Path runDir, String launcher, int threads, int moduleThreads, String resume, Map<String, Entry> entries) {
        LaunchRecord old = read(runDir);
        boolean keep = old != null && old.stages() != null && launcher.equals(old.launcher());
        Map<String, Entry> all = new LinkedHashMap<>(keep ? old.stages() : Map.of());
        all.putAll(entries);
        write(runDir, new LaunchRecord(launcher, java.time.Instant.now().toString(), threads, moduleThreads, resume, all));
    }

    /** Replaces one stage's entry, keeping the rest. */
    public static synchronized void updateEntry(Path runDir, String stage, Entry entry) {
        LaunchRecord old = read(runDir);
        if (old == null) throw new IllegalStateException(runDir.resolve(FILE) + " is missing");
        Map<String, Entry> all = new LinkedHashMap<>(old.stages() != null ? old.stages() : Map.of());
        all.put(stage, entry);
        write(runDir, new LaunchRecord(old.launcher(), java.time.Instant.now().toString(), old.threads(), old.moduleThreads(), old.resume(), all));
    }

    private static void write(Path runDir, LaunchRecord r) {
        Path f = runDir.resolve(FILE);
        try {
            Files.createDirectories(runDir);
            dma.engine.io.AtomicFile.write(f, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r));
        } catch (IOException e) {
            throw new UncheckedIOException(f + ": " + e.getMessage(), e);
        }
    }

    /** The Slurm job ids of entries (array tasks by their array job), without repeats. */
    public List<String> slurmJobs() {
        if (stages == null) return List.of();
        return stages.values().stream().filter(e -> e.job() != null).map(e -> e.job().contains("_") ? e.job().substring(0, e.job().indexOf('_')) : e.job())
                .distinct().toList();
    }
}
