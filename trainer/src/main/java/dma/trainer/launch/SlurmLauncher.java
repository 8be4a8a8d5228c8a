package dma.trainer.launch;

import dma.engine.io.AtomicFile;
import dma.engine.cpu.CpuBackend;
import dma.trainer.config.Plan;
import dma.trainer.stage.ModuleMethod;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The pipeline as Slurm jobs (DESIGN §8): the meta model as one job; each method's K modules as one array job
 * ({@code --array=0..K-1}, task i running {@code dma incubate --module $SLURM_ARRAY_TASK_ID}) after the meta job
 * ({@code afterok}); assembly and fine-tuning as one job after the whole array; the E2E baseline as its own job; the
 * report (summary and plots) as a last job after all of them. Every job runs the same java and class path on the
 * shared run directory, and carries {@code --kill-on-invalid-dep=yes}: when a task fails, what depends on it is
 * cancelled rather than left pending. The sbatch scripts are written to {@code <run>/slurm/}, beside the job logs,
 * for people to read and resubmit. Only unfinished stages are submitted, so launching again resubmits what failed.
 */
public final class SlurmLauncher {
    /** What the jobs ask of the cluster beyond CPUs. Null fields are left to the cluster's defaults. */
    public record Resources(String partition, String time, String account, Integer gpusPerTask, List<String> options) {
        /** Command-line values over the config's. */
        public static Resources of(Plan plan, String partition, String time, String account, Integer gpusPerTask, List<String> options) {
            var c = plan.slurm;
            List<String> all = new ArrayList<>(c.options() != null ? c.options() : List.of());
            if (options != null) all.addAll(options);
            return new Resources(partition != null ? partition : c.partition(), time != null ? time : c.time(),
                    account != null ? account : c.account(), gpusPerTask != null ? gpusPerTask : c.gpusPerTask(), all);
        }
    }

    /** One job to submit: a plain job or an array over module indices. */
    private record Job(String name, String description, List<StageId> stages, List<Integer> array, int cpus, boolean trains,
                       List<List<String>> commands, List<String> after) {}

    static final String TASK = "$SLURM_ARRAY_TASK_ID";

    private final Plan plan;
    private final Path runDir, workDir;
    private final DmaCommand dma;
    private final int threads, moduleThreads;
    private final RunArgs args;
    private final Resources resources;
    private final Map<String, String> submitted = new LinkedHashMap<>(); // job name → id

    /** @param args the options of every job's commands: config, run directory, backend, resume (the threads are set per job) */
    public SlurmLauncher(Plan plan, Path runDir, DmaCommand dma, int threads, int moduleThreads, RunArgs args, Resources resources) {
        this.plan = plan;
        this.runDir = runDir;
        this.workDir = Path.of("").toAbsolutePath();
        this.dma = dma;
        this.threads = threads;
        this.moduleThreads = moduleThreads;
        this.args = args;
        this.resources = resources;
    }

    /** The submitted jobs by name (meta, incubate, finetune, e2e, report, …) and id. */
    public Map<String, String> jobs() {
        return submitted;
    }

    /**
     * Writes the scripts and submits the unfinished stages' jobs, recording them in launch.json. Returns false,
     * submitting nothing, when every stage has finished already.
     */
    public boolean submit(String resumeLine) throws IOException {
        if (!Slurm.available())
            throw new IllegalStateException("--launcher slurm: sbatch and scontrol are not on the PATH (install Slurm's client, or see scripts/slurm-cluster.sh)");
        refuseIfActive();
        Path dir = Files.createDirectories(runDir.resolve("slurm"));
        List<Job> jobs = plan();
        if (jobs.stream().allMatch(j -> j.stages().equals(List.of(StageId.REPORT)))) return false;
        Map<String, LaunchRecord.Entry> entries = new LinkedHashMap<>();
        for (Job j : jobs) {
            Path script = dir.resolve(j.name() + ".sbatch");
            AtomicFile.writeString(script, script(j, script));
            List<String> opts = new ArrayList<>();
            if (j.array() != null) opts.add("--array=" + indices(j.array()));
            List<String> after = j.after().stream().filter(submitted::containsKey).map(submitted::get).toList();
            if (!after.isEmpty()) opts.add("--dependency=afterok:" + String.join(":", after));
            String id = Slurm.sbatch(opts, script);
            submitted.put(j.name(), id);
            System.err.printf("slurm: %s submitted as job %s%s%s%n", j.name(), id, j.array() != null ? " (array " + indices(j.array()) + ")" : "",
                    after.isEmpty() ? "" : " after " + String.join(", ", after));
            if (j.array() != null)
                for (int i : j.array())
                    entries.put(j.stages().get(i).name(), new LaunchRecord.Entry("slurm", id + "_" + i, null, null, log(j, i).toString(), script.toString(),
                            DmaCommand.shell(List.of("sbatch", "--array=" + i, script.toString()))));
            else
                for (StageId s : j.stages())
                    entries.put(s.name(), new LaunchRecord.Entry("slurm", id, null, null, log(j, -1).toString(), script.toString(),
                            DmaCommand.shell(List.of("sbatch", script.toString()))));
        }
        LaunchRecord.update(runDir, "slurm", threads, moduleThreads, resumeLine, entries);
        return true;
    }

    /** Refuses to launch over jobs of the same run that are still queued or running: they would write the same files. */
    private void refuseIfActive() {
        LaunchRecord old = LaunchRecord.read(runDir);
        if (old == null) return;
        List<String> active = new ArrayList<>();
        for (String id : old.slurmJobs())
            for (Slurm.Job j : Slurm.show(id).values())
                if (!j.terminal()) active.add(j.id() + " (" + j.state() + ")");
        if (!active.isEmpty())
            throw new IllegalStateException("jobs of " + runDir + " are still queued or running: " + String.join(", ", active)
                    + "; wait for them (dma status " + runDir + ") or cancel them (scancel) first");
    }

    /** The jobs of the unfinished stages, in submission order; the report job always comes last. */
    private List<Job> plan() throws IOException {
        List<Job> jobs = new ArrayList<>();
        RunArgs whole = args.withThreads(threads), modules = args.withThreads(moduleThreads);
        if (!plan.moduleMethods.isEmpty() && Stages.finished(runDir, StageId.META) == null)
            jobs.add(new Job(StageId.META.name(), "the meta model", List.of(StageId.META), null, threads, true, List.of(StageId.META.argv(whole)), List.of()));
        int k = plan.partition.modules();
        List<String> finals = new ArrayList<>();
        for (ModuleMethod m : plan.moduleMethods) {
            List<StageId> stages = new ArrayList<>();
            List<Integer> todo = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                stages.add(StageId.module(m, i));
                if (Stages.finished(runDir, StageId.module(m, i)) == null) todo.add(i);
            }
            if (!todo.isEmpty()) {
                if (m == ModuleMethod.DISTDATA) writeShards();
                List<String> task = new ArrayList<>(StageId.moduleCommand(m, TASK));
                task.addAll(modules.argv());
                jobs.add(new Job(m.command, m.command + " module " + TASK + " of " + k + " (one array task per module)", stages, todo, moduleThreads, true,
                        List.of(task), List.of(StageId.META.name())));
            }
            StageId assemble = StageId.assemble(m), finetune = StageId.finetune(m);
            if (Stages.finished(runDir, finetune) == null || Stages.finished(runDir, assemble) == null) {
                jobs.add(new Job(finetune.name(), "assemble the " + m.command + " modules and fine-tune the target model", List.of(assemble, finetune), null,
                        threads, true, List.of(assemble.argv(whole), finetune.argv(whole)), List.of(m.command)));
            }
            finals.add(finetune.name());
        }
        List<StageId> e2e = StageId.e2eStages(plan);
        if (plan.e2e && e2e.stream().anyMatch(id -> Stages.finished(runDir, id) == null))
            jobs.add(new Job(StageId.E2E.name(), "the E2E baseline", e2e, null, threads, true, e2e.stream().map(id -> id.argv(whole)).toList(), List.of()));
        List<String> after = new ArrayList<>(finals);
        after.add(StageId.E2E.name());
        jobs.add(new Job(StageId.REPORT.name(), "the summary and plots, once every stage has finished", List.of(StageId.REPORT), null, 1, false,
                List.of(StageId.REPORT.argv(args)), after));
        return jobs;
    }

    /** DistData tasks read only their own shard: write the shards (and the evaluation set) once, here. */
    private void writeShards() {
        if (java.util.stream.IntStream.range(0, plan.partition.modules()).allMatch(i -> Files.exists(Stages.distDataShard(runDir, i)))
                && Files.exists(Stages.testShard(runDir))) return;
        System.err.println("slurm: writing the DistData shards to " + runDir.resolve("data"));
        new Stages(plan, runDir, CpuBackend.get(), false).writeDistDataShards();
    }

    private Path log(Job j, int task) {
        return runDir.resolve("slurm").resolve((task >= 0 ? j.stages().get(task).name() : j.name()) + ".log");
    }

    private String script(Job j, Path file) {
        StringBuilder b = new StringBuilder("#!/bin/bash\n");
        b.append("# dma: ").append(j.description()).append(", run ").append(runDir).append('\n');
        b.append("# Written by dma pipeline --launcher slurm. Finished stages are skipped, so it can be submitted again as it is:\n");
        b.append("#   sbatch ").append(j.array() != null ? "--array=" + indices(j.array()) + " " : "").append(file).append('\n');
        String output = j.array() != null ? runDir.resolve("slurm").resolve(j.name() + "-%a.log").toString() : log(j, -1).toString();
        List<String> sb = new ArrayList<>(List.of("--job-name=dma-" + j.name(), "--output=" + output, "--chdir=" + workDir,
                "--ntasks=1", "--cpus-per-task=" + j.cpus(), "--kill-on-invalid-dep=yes"));
        if (resources.partition() != null) sb.add("--partition=" + resources.partition());
        if (resources.account() != null) sb.add("--account=" + resources.account());
        if (resources.time() != null) sb.add("--time=" + resources.time());
        if (j.trains() && resources.gpusPerTask() != null && resources.gpusPerTask() > 0) sb.add("--gpus-per-task=" + resources.gpusPerTask());
        sb.addAll(resources.options());
        for (String o : sb) b.append("#SBATCH ").append(o).append('\n');
        b.append("set -euo pipefail\n");
        b.append("java=").append(DmaCommand.quote(dma.java())).append('\n');
        b.append("cp=").append(DmaCommand.quote(dma.classPath())).append('\n');
        for (List<String> c : j.commands()) {
            b.append("\"$java\"");
            for (String f : DmaCommand.JVM_FLAGS) b.append(' ').append(DmaCommand.quote(f));
            b.append(" ${DMA_JAVA_OPTS:-} -cp \"$cp\" ").append(DmaCommand.MAIN);
            for (String a : c) b.append(' ').append(a.equals(TASK) ? "\"" + TASK + "\"" : DmaCommand.quote(a));
            b.append('\n');
        }
        return b.toString();
    }

    /** Indices as sbatch's --array takes them: 0-3 or 1,3. */
    static String indices(List<Integer> ids) {
        boolean contiguous = true;
        for (int i = 1; i < ids.size(); i++) contiguous &= ids.get(i) == ids.get(i - 1) + 1;
        if (contiguous && ids.size() > 1) return ids.get(0) + "-" + ids.get(ids.size() - 1);
        return String.join(",", ids.stream().map(String::valueOf).toList());
    }

    /**
     * Waits until every submitted job has ended, printing each state change. A job left pending on a dependency
     * that can never be met (a cluster that ignores --kill-on-invalid-dep) is cancelled here. Returns whether every
     * job completed.
     */
    public boolean await(long pollMillis) {
        Map<String, String> last = new LinkedHashMap<>();
        boolean allDone;
        while (true) {
            allDone = true;
            boolean active = false;
            for (var e : submitted.entrySet()) {
                Map<String, Slurm.Job> tasks;
                try {
                    tasks = Slurm.show(e.getValue());
                } catch (RuntimeException ex) {
                    System.err.println("slurm: " + ex.getMessage() + " (retrying)");
                    active = true;
                    continue;
                }
                for (Slurm.Job j : tasks.values()) {
                    String what = j.state() + (j.state().equals("PENDING") || j.terminal() && !j.state().equals("COMPLETED") ? " (" + j.reason() + ")" : "")
                            + (j.state().equals("FAILED") ? " exit " + j.exitCode() : "");
                    if (!what.equals(last.get(j.id()))) {
                        System.err.printf("slurm: %s (job %s): %s%n", label(e.getKey(), j.id()), j.id(), what);
                        last.put(j.id(), what);
                    }
                    if (j.neverRuns()) {
                        System.err.printf("slurm: %s can never run (a job it depends on failed); cancelling it%n", j.id());
                        Slurm.cancel(j.id());
                    }
                    if (!j.terminal()) active = true;
                    else if (!j.state().equals("COMPLETED")) allDone = false;
                }
            }
            if (!active) return allDone;
            try {
                Thread.sleep(pollMillis);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted; the jobs go on: follow them with dma status " + runDir);
            }
        }
    }

    private static String label(String job, String id) {
        return id.contains("_") ? job + "-" + id.substring(id.indexOf('_') + 1) : job;
    }
}
