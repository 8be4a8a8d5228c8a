package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.data.Split;
import dma.trainer.stage.Pipeline;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options every stage command shares, and the set-up they share: config → plan → data → stages. */
public final class RunOptions {
    @Option(names = "--config", description = "Run configuration (JSON). Default: the embedded Fashion-MNIST pipeline.")
    Path config;

    @Option(names = "--run-dir", description = "Directory for checkpoints, metrics, plots and the summary (default: ${DEFAULT-VALUE}).")
    Path runDir = Path.of("runs", "default");

    @Option(names = "--resume", description = "Continue unfinished stages from their last training checkpoint.")
    boolean resume;

    @Option(names = "--threads", description = "CPU threads (default: the config's, else all cores).")
    Integer threads;

    @Option(names = "--backend", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    Plan plan() {
        return config != null ? new Plan(ConfigLoader.read(config), config.toString()) : new Plan(ConfigLoader.defaults(), "default-config.json");
    }

    /** Plan, threads, backend and data, ready to run stages. */
    Stages stages(Plan plan) {
        Backend be = Backends.get(backend, threads(plan));
        Split data = Pipeline.data(plan);
        return new Stages(plan, runDir, be, data.train(), data.test(), resume);
    }

    /**
     * For DistData module i: when the run directory holds its shard (the pipeline writes them), only that share of
     * the training set and the evaluation set are read; otherwise the whole data set, as for any stage.
     */
    Stages stagesFor(Plan plan, String kind, Integer module) {
        if (!kind.equals("distdata") || module == null || !java.nio.file.Files.isRegularFile(Stages.distDataShard(runDir, module))
                || !java.nio.file.Files.isRegularFile(Stages.testShard(runDir)))
            return stages(plan);
        Backend be = Backends.get(backend, threads(plan));
        System.err.printf("distdata-%d: reading only its shard %s%n", module, Stages.distDataShard(runDir, module));
        return Stages.forDistDataShard(plan, runDir, be, module, resume);
    }

    int threads(Plan plan) {
        return threads != null ? threads : plan.threads;
    }
}
