package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.stage.RunArgs;
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

    Plan plan() {
        return config != null ? new Plan(ConfigLoader.read(config), config.toString()) : new Plan(ConfigLoader.defaults(), "default-config.json");
    }

    /** The run's stages on the backend with the run's threads; the data is read when a stage first needs it. */
    Stages stages(Plan plan) {
        return new Stages(plan, runDir, backend(threads(plan)), resume);
    }

    /** The backend, its CPU work split over {@code n} threads. */
    Backend backend(int n) {
        return Backends.get(backend, n);
    }

    int threads(Plan plan) {
        return threads != null ? threads : plan.threads;
    }
}
