package dma.trainer.stage;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The options every stage command takes, as a value: what a launcher hands a stage that runs in another process,
 * and what {@code dma status} prints to rerun one. The CLI's options are declared with these names, so the two
 * cannot drift apart.
 *
 * @param backend null: the stage's default (cpu)
 * @param threads null: the config's threads
 */
public record RunArgs(Path config, Path runDir, String backend, Integer threads, boolean resume) {
    public static final String CONFIG = "--config", RUN_DIR = "--run-dir", BACKEND = "--backend", THREADS = "--threads", RESUME = "--resume";

    /** Options of the stage commands that launchers do not hand on: a timeline of a few steps of each stage ({@link StageTrace}). */
    public static final String TRACE = "--trace", TRACE_STEPS = "--trace-steps";

    public RunArgs withThreads(int n) {
        return new RunArgs(config, runDir, backend, n, resume);
    }

    public RunArgs withResume(boolean r) {
        return new RunArgs(config, runDir, backend, threads, r);
    }

    /** The options as words, in a fixed order: config, run directory, backend, resume, threads. */
    public List<String> argv() {
        List<String> a = new ArrayList<>(List.of(CONFIG, config.toString(), RUN_DIR, runDir.toString()));
        if (backend != null) a.addAll(List.of(BACKEND, backend));
        if (resume) a.add(RESUME);
        if (threads != null) a.addAll(List.of(THREADS, threads.toString()));
        return a;
    }
}
