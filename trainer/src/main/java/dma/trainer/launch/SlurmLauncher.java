package dma.trainer.launch;

import dma.engine.cpu.CpuBackend;
import dma.trainer.config.Plan;
import dma.trainer.stage.Pipeline;
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
    private record Job(String name, String description, List<String> stages, List<Integer> array, int cpus, boolean trains,
                       List<List<String>> commands, List<String> after) {}

    static final String TASK = "$SLURM_ARRAY_TASK_ID";

    private final Plan plan;
    private final Path runDir, workDir;
    private final DmaCommand dma;
    private final int threads, moduleThreads;
    private final String backend;
    private final Resources resources;
    private final Map<String, String> submitted = new LinkedHashMap<>(); // job name → id

    public SlurmLauncher(Plan plan, Path runDir, DmaCommand dma, int threads, int moduleThreads, String backend, Resources resources) {
        this.plan = plan;
        this.runDir = runDir;
        this.workDir = Path.of("").toAbsolutePath();
        this.dma = dma;
        this.threads = threads;
        this.moduleThreads = moduleThreads;
        this.backend = backend;
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
        if (jobs.stream().allMatch(j -> j.name().equals("report"))) return false;
        Map<String, LaunchRecord.Entry> entries = new LinkedHashMap<>();
        for (Job j : jobs) {
            Path script = dir.resolve(j.name() + ".sbatch");
            writeAtomically(script, script(j, script));
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
                    entries.put(j.stages().get(i), new LaunchRecord.Entry("slurm", id + "_" + i, null, null, log(j, i).toString(), script.toString(),
                            DmaCommand.shell(List.of("sbatch", "--array=" + i, script.toString()))));
            else
                for (String s : j.stages())
                    entries.put(s, new LaunchRecord.Entry("slurm", id, null, null, log(j, -1).toString(), script.toString(),
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
        List<String> config = List.of("--config", runDir.resolve("config.json").toString(), "--run-dir", runDir.toString(), "--backend", backend, "--resume");
        if (Stages.finished(runDir, "meta") == null)
            jobs.add(new Job("meta", "the meta model", List.of("meta"), null, threads, true, List.of(args(List.of("meta"), config, threads)), List.of()));
        int k = plan.partition.modules();
        List<String> finals = new ArrayList<>();
        for (String kind : Pipeline.methods(plan)) {
            List<String> stages = new ArrayList<>();
            List<Integer> todo = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                stages.add(kind + "-" + i);
                if (Stages.finished(runDir, kind + "-" + i) == null) todo.add(i);
            }
            if (!todo.isEmpty()) {
                if (kind.equals("distdata")) writeShards();
                jobs.add(new Job(kind, kind + " module $SLURM_ARRAY_TASK_ID of " + k + " (one array task per module)", stages, todo, moduleThreads, true,
                        List.of(args(List.of(kind, "--module", TASK), config, moduleThreads)), List.of("meta")));
            }
            String assemble = Pipeline.assembleStage(kind), finetune = Pipeline.finetuneStage(kind);
            if (Stages.finished(runDir, finetune) == null || Stages.finished(runDir, assemble) == null) {
                jobs.add(new Job(finetune, "assemble the " + kind + " modules and fine-tune the target model", List.of(assemble, finetune), null, threads, true,
                        List.of(args(List.of("assemble", "--method", kind), config, threads), args(List.of("finetune", "--method", kind), config, threads)),
                        List.of(kind)));
            }
            finals.add(finetune);
        }
        if (plan.baselines.contains("e2e") && Stages.finished(runDir, "e2e") == null)
            jobs.add(new Job("e2e", "the E2E baseline", List.of("e2e"), null, threads, true, List.of(args(List.of("e2e"), config, threads)), List.of()));
        List<String> after = new ArrayList<>(finals);
        after.add("e2e");
        jobs.add(new Job("report", "the summary and plots, once every stage has finished", List.of("report"), null, 1, false,
                List.of(new ArrayList<>(List.of("pipeline", "--report-only", "--config", runDir.resolve("config.json").toString(), "--run-dir", runDir.toString()))),
                after));
        return jobs;
    }

    private static List<String> args(List<String> command, List<String> config, int threads) {
        List<String> a = new ArrayList<>(command);
        a.addAll(config);
        a.addAll(List.of("--threads", Integer.toString(threads)));
        return a;
    }

    /** DistData tasks read only their own shard: write the shards (and the evaluation set) once, here. */
    private void writeShards() {
        if (java.util.stream.IntStream.range(0, plan.partition.modules()).allMatch(i -> Files.exists(Stages.distDataShard(runDir, i)))
                && Files.exists(Stages.testShard(runDir))) return;
        System.err.println("slurm: writing the DistData shards to " + runDir.resolve("data"));
        var split = Pipeline.data(plan);
        new Stages(plan, runDir, CpuBackend.get(), split.train(), split.test(), false).writeDistDataShards();
    }

    private Path log(Job j, int task) {
        return runDir.resolve("slurm").resolve(task >= 0 ? j.name() + "-" + task + ".log" : j.name() + ".log");
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

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
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
