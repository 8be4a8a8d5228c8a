package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageTrace;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options every stage command shares ({@link RunArgs} names them), and the set-up they share: config → plan → stages. */
public final class RunOptions {
    @Option(names = RunArgs.CONFIG, description = "Run configuration (JSON). Default: the embedded Fashion-MNIST pipeline.")
    Path config;

    @Option(names = RunArgs.RUN_DIR, description = "Directory for checkpoints, metrics, plots and the summary (default: ${DEFAULT-VALUE}).")
    Path runDir = Path.of("runs", "default");

    @Option(names = RunArgs.RESUME, description = "Continue unfinished stages from their last training checkpoint.")
    boolean resume;

    @Option(names = RunArgs.THREADS, description = "CPU threads (default: the config's, else all cores).")
    Integer threads;

    @Option(names = RunArgs.BACKEND, description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    @Option(names = RunArgs.TRACE, paramLabel = "FILE.json", description = {
            "Write a timeline of " + RunArgs.TRACE_STEPS + " steps of each stage that trains in this process, after a warm-up of "
                    + StageTrace.WARMUP + " steps (a shorter stage: its last steps), in the Chrome Trace Event format (open it in"
                    + " ui.perfetto.dev or chrome://tracing): every op forward and backward with its output shape, each step, and on"
                    + " the CPU backend one track per thread. One file per stage: FILE with the stage's name inserted"
                    + " (trace.json -> trace-meta.json, trace-incubate-0.json); assemble and select-weights do not train and write none."
                    + " Traced steps synchronize the device at every op, so they run slower.",
            "Not handed on by the launchers: stages run by --launcher local or slurm (in other processes) are not traced."})
    Path trace;

    @Option(names = RunArgs.TRACE_STEPS, paramLabel = "N", description = "Training steps per stage in the " + RunArgs.TRACE
            + " timeline (default: ${DEFAULT-VALUE}).")
    int traceSteps = StageTrace.DEFAULT_STEPS;

    Plan plan() {
        return config != null ? new Plan(ConfigLoader.read(config), config.toString()) : new Plan(ConfigLoader.defaults(), "default-config.json");
    }

    /** The run's stages on the backend with the run's threads; the data is read when a stage first needs it. */
    Stages stages(Plan plan) {
        Stages s = new Stages(plan, runDir, backend(threads(plan)), resume);
        s.trace(trace());
        return s;
    }

    /** What --trace asks for, or null. */
    StageTrace trace() {
        if (trace == null) {
            if (traceSteps != StageTrace.DEFAULT_STEPS) throw new IllegalArgumentException(RunArgs.TRACE_STEPS + " needs " + RunArgs.TRACE + " FILE");
            return null;
        }
        return new StageTrace(trace, traceSteps);
    }

    /** The backend, its CPU work split over {@code n} threads. */
    Backend backend(int n) {
        return Backends.get(backend, n);
    }

    int threads(Plan plan) {
        return threads != null ? threads : plan.threads;
    }
}
