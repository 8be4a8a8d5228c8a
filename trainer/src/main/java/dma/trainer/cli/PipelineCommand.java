package dma.trainer.cli;

import dma.trainer.config.Plan;
import dma.trainer.launch.DmaCommand;
import dma.trainer.launch.LaunchRecord;
import dma.trainer.launch.LocalLauncher;
import dma.trainer.launch.RunStatus;
import dma.trainer.launch.SequentialLauncher;
import dma.trainer.launch.SlurmLauncher;
import dma.trainer.report.Summary;
import dma.trainer.stage.Pipeline;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** The whole method and its baselines on one config, ending with the summary table and plots. */
@Command(name = StageId.PIPELINE_COMMAND, mixinStandardHelpOptions = true,
        description = {"Run meta → incubate ×K → assemble → finetune and the configured baselines (default: E2E), then print the summary.",
                "The K module stages run in this process one after another (--launcher sequential, the default), as parallel processes on this"
                        + " machine (local), or as a Slurm array job (slurm). Finished stages are skipped, so running it again continues a run."})
public final class PipelineCommand implements Callable<Integer>, Subcommand {
    @Mixin RunOptions run;

    static final String LAUNCHER = "--launcher", MODULE_THREADS = "--module-threads";

    @Option(names = LAUNCHER, paramLabel = "sequential|local|slurm",
            description = "How the K module stages run: sequential (in this process), local (parallel processes, module-threads each),"
                    + " slurm (meta job, array job of K tasks, assembly + fine-tune job, report job). Default: the config's launcher, else sequential.")
    String launcher;

    @Option(names = "--parallel", description = "The same as --launcher local.")
    boolean parallel;

    @Option(names = MODULE_THREADS, paramLabel = "N",
            description = "Threads of each module stage (default: the config's module_threads; else threads/K for local, threads for slurm and"
                    + " sequential). Weights depend on it: the same value gives the same weights under every launcher.")
    Integer moduleThreads;

    @Option(names = "--no-wait", description = "slurm: submit the jobs and return; the last job writes the summary (follow with dma status).")
    boolean noWait;

    @Option(names = StageId.REPORT_ONLY, description = "Only write the summary and plots of a run whose stages have all finished.")
    boolean reportOnly;

    @Option(names = "--partition", description = "slurm: sbatch --partition (default: the config's slurm.partition).")
    String partition;

    @Option(names = "--time", description = "slurm: sbatch --time, per job (default: the config's slurm.time).")
    String time;

    @Option(names = "--account", description = "slurm: sbatch --account (default: the config's slurm.account).")
    String account;

    @Option(names = "--gpus-per-task", paramLabel = "N", description = "slurm: sbatch --gpus-per-task for the training jobs (default: the config's slurm.gpus_per_task).")
    Integer gpusPerTask;

    @Option(names = "--sbatch-option", paramLabel = "OPT", description = "slurm: another sbatch option for every job, e.g. --sbatch-option=--qos=high (repeatable).")
    List<String> sbatchOptions;

    @Option(names = "--poll", paramLabel = "SECONDS", description = "slurm: how often to ask Slurm about the jobs while waiting (default: ${DEFAULT-VALUE}).")
    double poll = 2;

    @Override
    public Integer call() throws Exception {
        run.runDir = run.runDir.toAbsolutePath().normalize(); // children and jobs may start elsewhere
        Plan plan = run.plan();
        if (reportOnly) return report(Pipeline.reportOnly(plan, run.runDir));
        String how = launcher != null ? launcher : parallel ? "local" : plan.launcher;
        if (!dma.trainer.config.RunConfig.LAUNCHERS.contains(how))
            throw new IllegalArgumentException("--launcher " + how + ": choose one of " + String.join(", ", dma.trainer.config.RunConfig.LAUNCHERS));
        if (parallel && launcher != null && !launcher.equals("local"))
            throw new IllegalArgumentException("--parallel is --launcher local; it contradicts --launcher " + launcher);
        int threads = run.threads(plan), k = plan.partition.modules();
        Integer fixed = moduleThreads != null ? moduleThreads : plan.moduleThreads;
        if (fixed != null && fixed < 1) throw new IllegalArgumentException("--module-threads must be at least 1, got " + fixed);
        int perModule = fixed != null ? fixed : how.equals("local") ? Math.max(1, threads / k) : threads;
        System.out.printf("pipeline: %s; data %s (%s); run directory %s; launcher %s%n", plan.partition,
                plan.dataKind, plan.dataPath, run.runDir, how);
        String resume = resumeLine(how, threads, fixed);
        if (run.trace != null && !how.equals("sequential"))
            System.err.printf("pipeline: %s is not handed on to the stages that --launcher %s runs in other processes: %s%n", RunArgs.TRACE, how,
                    how.equals("slurm") ? "nothing is traced" : "the module stages are not traced");
        if (how.equals("slurm")) return slurm(plan, threads, perModule, resume);

        Stages stages = run.stages(plan);
        LaunchRecord.update(run.runDir, how, threads, perModule, resume, Map.of());
        Pipeline.ModuleLauncher modules;
        if (how.equals("local")) {
            LocalLauncher local = new LocalLauncher(run.runDir, DmaCommand.current(), threads, perModule, runArgs(run.resume));
            System.err.printf("pipeline: module stages as local processes, %d thread(s) each, %d at a time%n", perModule, local.slots());
            modules = local;
        } else modules = new SequentialLauncher(stages.on(run.backend(perModule)));
        return report(new Pipeline(plan, run.runDir, stages, modules).run());
    }

    /** The options the module stages of this run take in other processes (their threads are the launcher's to set). */
    private RunArgs runArgs(boolean resume) {
        return new RunArgs(run.runDir.resolve("config.json"), run.runDir, run.backend, null, resume);
    }

    private int slurm(Plan plan, int threads, int perModule, String resume) throws Exception {
        Pipeline.writeRunFiles(plan, run.runDir);
        var resources = SlurmLauncher.Resources.of(plan, partition, time, account, gpusPerTask, sbatchOptions);
        SlurmLauncher slurm = new SlurmLauncher(plan, run.runDir, DmaCommand.current(), threads, perModule, runArgs(true), resources);
        if (!slurm.submit(resume)) {
            System.err.println("pipeline: every stage has finished; writing the report");
            return report(Pipeline.reportOnly(plan, run.runDir));
        }
        System.out.printf("pipeline: submitted jobs %s; follow them with: %s%n", String.join(", ", slurm.jobs().values()),
                DmaCommand.current().display(List.of(StatusCommand.NAME, run.runDir.toString())));
        if (noWait) return 0;
        boolean ok = slurm.await(Math.max(100, Math.round(poll * 1000)));
        if (ok) return report(Summary.read(run.runDir));
        System.out.println();
        System.out.print(RunStatus.render(RunStatus.of(run.runDir)));
        List<String> failed = RunStatus.of(run.runDir).stages().stream().filter(r -> r.state().equals("failed")).map(RunStatus.Row::stage).toList();
        throw new IllegalStateException("the Slurm jobs ended without finishing the pipeline" + (failed.isEmpty() ? "" : "; failed: " + String.join(", ", failed))
                + " (see above, or dma status " + run.runDir + ")");
    }

    /** The shell line that continues this run with the same launcher and the options given on this command line. */
    private String resumeLine(String how, int threads, Integer fixedModuleThreads) {
        List<String> a = new ArrayList<>(List.of(StageId.PIPELINE_COMMAND, LAUNCHER, how));
        a.addAll(new RunArgs(run.runDir.resolve("config.json"), run.runDir, null, threads, false).argv());
        if (fixedModuleThreads != null) a.addAll(List.of(MODULE_THREADS, fixedModuleThreads.toString()));
        if (!run.backend.equals("cpu")) a.addAll(List.of(RunArgs.BACKEND, run.backend));
        if (!how.equals("slurm")) a.add(RunArgs.RESUME);
        if (partition != null) a.add("--partition=" + partition);
        if (time != null) a.add("--time=" + time);
        if (account != null) a.add("--account=" + account);
        if (gpusPerTask != null) a.add("--gpus-per-task=" + gpusPerTask);
        if (sbatchOptions != null) for (String o : sbatchOptions) a.add("--sbatch-option=" + o);
        return DmaCommand.current().display(a);
    }

    private int report(Summary summary) {
        System.out.println();
        System.out.print(summary.table());
        System.out.printf("%nsummary: %s, %s; plots: %s%n", run.runDir.resolve("summary.md"), run.runDir.resolve("summary.json"),
                Pipeline.plotsUnavailable() == null ? run.runDir.resolve("plots") : "not drawn (see above)");
        return 0;
    }
}
