package dma.trainer.cli;

import dma.trainer.config.Plan;
import dma.trainer.report.Summary;
import dma.trainer.stage.Pipeline;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** The whole method and its baselines on one config, ending with the summary table and plots. */
@Command(name = "pipeline", mixinStandardHelpOptions = true,
        description = "Run meta → incubate ×K → assemble → finetune and the configured baselines (default: E2E), then print the summary.")
public final class PipelineCommand implements Callable<Integer>, Subcommand {
    @Mixin RunOptions run;

    @Option(names = "--parallel", description = "Run the K incubations as K parallel local processes (each with threads/K threads).")
    Boolean parallel;

    @Override
    public Integer call() throws Exception {
        Plan plan = run.plan();
        Stages stages = run.stages(plan);
        boolean par = parallel != null ? parallel : plan.parallelIncubation;
        System.out.printf("pipeline: %s, %s; data %s (%s); run directory %s%n", plan.target.family(), plan.partition,
                plan.dataKind, plan.dataPath, run.runDir);
        Pipeline.ModuleLauncher launcher = par ? (kind, modules) -> launch(plan, kind, modules)
                : (kind, modules) -> {
                    for (int i : modules) stages.module(kind, i);
                };
        Summary summary = new Pipeline(plan, run.runDir, stages, launcher).run();
        System.out.println();
        System.out.print(summary.table());
        System.out.printf("%nsummary: %s, %s; plots: %s%n", run.runDir.resolve("summary.md"), run.runDir.resolve("summary.json"),
                run.runDir.resolve("plots"));
        return 0;
    }

    /** K child JVMs, one per module, sharing the run directory; threads split so they do not oversubscribe the cores. */
    private void launch(Plan plan, String kind, List<Integer> modules) throws IOException {
        int total = run.threads != null ? run.threads : plan.threads;
        int each = Math.max(1, total / modules.size());
        Path config = run.runDir.resolve("config.json");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<Process> procs = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        for (int i : modules) {
            Path dir = Files.createDirectories(run.runDir.resolve(kind + "-" + i));
            Path log = dir.resolve("process.log");
            List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), Main.class.getName(), kind,
                    "--module", Integer.toString(i), "--config", config.toString(), "--run-dir", run.runDir.toString(),
                    "--threads", Integer.toString(each), "--backend", run.backend));
            if (run.resume) cmd.add("--resume");
            procs.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start());
            logs.add(log);
            System.err.printf("%s-%d: running in process %d (%d threads), log %s%n", kind, i, procs.get(procs.size() - 1).pid(), each, log);
        }
        for (int j = 0; j < procs.size(); j++) {
            int code;
            try {
                code = procs.get(j).waitFor();
            } catch (InterruptedException e) {
                procs.forEach(Process::destroy);
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the incubations", e);
            }
            if (code != 0) throw new IllegalStateException(kind + "-" + modules.get(j) + " failed (exit " + code + "); see " + logs.get(j));
        }
    }
}
