package dma.trainer.launch;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.report.MetricsLog;
import dma.trainer.report.Summary;
import dma.trainer.stage.Attempt;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code dma status RUN_DIR} reports: every stage of the run with its state (pending, running, done, failed,
 * or cancelled when Slurm cancelled it because a job it depends on failed), its last logged step and accuracy, and
 * for a failed stage why, its log and the command that reruns it. It reads the run directory (result.json,
 * attempt.json, metrics.jsonl, launch.json) and, for a Slurm launch, asks {@code scontrol} about the jobs.
 */
public final class RunStatus {
    /**
     * One stage.
     *
     * @param job      the Slurm job or local process that runs or ran it
     * @param why      for a failed or cancelled stage: what Slurm or the process said
     * @param resubmit for a failed stage: the shell line that runs it alone again
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Row(@JsonProperty("stage") String stage, @JsonProperty("state") String state, @JsonProperty("step") Long step,
                      @JsonProperty("accuracy") Double accuracy, @JsonProperty("job") String job, @JsonProperty("why") String why,
                      @JsonProperty("log") String log, @JsonProperty("resubmit") String resubmit) {}

    /** @param resume the shell line that runs everything not finished (finished stages are skipped) */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Report(@JsonProperty("run") String run, @JsonProperty("launcher") String launcher, @JsonProperty("stages") List<Row> stages,
                         @JsonProperty("resume") String resume) {
        public Row stage(String name) {
            return stages.stream().filter(r -> r.stage().equals(name)).findFirst().orElse(null);
        }
    }

    private final Path runDir;
    private final LaunchRecord launch;
    private final Map<String, Map<String, Slurm.Job>> slurmJobs = new HashMap<>();
    private final DmaCommand dma = DmaCommand.current();

    private RunStatus(Path runDir) {
        this.runDir = runDir;
        this.launch = LaunchRecord.read(runDir);
    }

    public static Report of(Path runDir) {
        runDir = runDir.toAbsolutePath().normalize();
        Path config = runDir.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new IllegalArgumentException(runDir + " is not a run directory: it has no config.json");
        Plan plan = new Plan(ConfigLoader.read(config), config.toString());
        RunStatus s = new RunStatus(runDir);
        List<StageId> ids = new ArrayList<>(StageId.pipeline(plan));
        if (s.launch != null && s.launch.stages() != null && s.launch.stages().containsKey(StageId.REPORT.name())) ids.add(StageId.REPORT);
        List<Row> rows = new ArrayList<>();
        for (StageId id : ids) rows.add(s.row(id, rows));
        List<String> pipeline = new ArrayList<>(List.of(StageId.PIPELINE_COMMAND));
        pipeline.addAll(new RunArgs(config, runDir, null, null, true).argv());
        String resume = s.launch != null && s.launch.resume() != null ? s.launch.resume() : s.dma.display(pipeline);
        return new Report(runDir.toString(), s.launch != null ? s.launch.launcher() : null, rows, resume);
    }

    private Row row(StageId id, List<Row> before) {
        String stage = id.name();
        LaunchRecord.Entry e = launch != null && launch.stages() != null ? launch.stages().get(stage) : null;
        Path dir = id.dir(runDir);
        Long step = null;
        Double acc = null;
        Path metrics = dir.resolve(MetricsLog.FILE);
        if (Files.isRegularFile(metrics)) {
            try {
                for (MetricsLog.Metric m : MetricsLog.read(metrics)) {
                    step = m.step();
                    if (m.evalAccuracy() != null) acc = m.evalAccuracy();
                }
            } catch (IOException | RuntimeException ignored) {
                // a log being written: show what the result says
            }
        }
        String job = e == null ? null : e.job() != null ? e.job() : e.pid() != null ? "pid " + e.pid() : null;
        String log = e != null ? e.log() : null;
        boolean report = id.kind() == StageId.Kind.REPORT;
        boolean done = report
                ? Files.isRegularFile(runDir.resolve(Summary.JSON_FILE)) && before.stream().allMatch(r -> r.state().equals("done"))
                : Stages.finished(runDir, id) != null;
        if (done) {
            Summary.StageResult r = report ? null : Stages.finished(runDir, id);
            return new Row(stage, "done", step, r != null && r.accuracy() != null ? r.accuracy() : acc, job, null, log, null);
        }
        Attempt.Record a = report ? null : Attempt.read(runDir, id);
        String error = a != null && "failed".equals(a.state()) ? a.error() : null;
        String resubmit = e != null && e.resubmit() != null ? e.resubmit() : dma.display(stageCommand(id));
        // a Slurm job: what Slurm says, while it still knows the job
        if (e != null && e.job() != null) {
            Slurm.Job j = slurmJob(e.job());
            if (j != null) {
                switch (j.state()) {
                    case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "SUSPENDED", "RESV_DEL_HOLD" -> {
                        if (j.neverRuns()) return new Row(stage, "cancelled", step, acc, job, "job " + j.id() + " waits on a job that failed ("
                                + j.reason() + ")", log, null);
                        return new Row(stage, "pending", step, acc, job, "job " + j.id() + " " + j.state() + " (" + j.reason() + ")", log, null);
                    }
                    case "RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING" -> {
                        // a job may run several stages (assemble, then finetune): this one runs once it has recorded its attempt
                        if (a != null && "running".equals(a.state()) && e.job().equals(a.slurmJob()))
                            return new Row(stage, "running", step, acc, job, null, log, null);
                        return new Row(stage, "pending", step, acc, job, "job " + j.id() + " is running; this stage has not started yet", log, null);
                    }
                    case "CANCELLED" -> {
                        if (j.reason().startsWith("Dependency"))
                            return new Row(stage, "cancelled", step, acc, job, "job " + j.id() + " cancelled by Slurm (" + j.reason()
                                    + "): a job it depends on did not complete", log, null);
                        return new Row(stage, "failed", step, acc, job, why("job " + j.id() + " CANCELLED (" + j.reason() + ")", error, log), log, resubmit);
                    }
                    default -> {
                        String head = "job " + j.id() + " " + j.state() + (j.state().equals("COMPLETED") ? " without finishing the stage"
                                : " (" + j.reason() + ", exit " + j.exitCode() + ")");
                        return new Row(stage, "failed", step, acc, job, why(head, error, log), log, resubmit);
                    }
                }
            }
        }
        // a local process
        if (e != null && e.pid() != null) {
            if (e.exit() != null && e.exit() != 0)
                return new Row(stage, "failed", step, acc, job, why("process " + e.pid() + " exited with " + e.exit(), error, log), log, resubmit);
            if (e.exit() == null && ProcessHandle.of(e.pid()).map(ProcessHandle::isAlive).orElse(false))
                return new Row(stage, "running", step, acc, job, null, log, null);
        }
        // the stage's own record
        if (a != null) {
            if ("failed".equals(a.state())) return new Row(stage, "failed", step, acc, job, a.error(), log, resubmit);
            if ("running".equals(a.state())) {
                boolean here = a.host() != null && a.host().equals(Attempt.host());
                if (here && !ProcessHandle.of(a.pid()).map(ProcessHandle::isAlive).orElse(false))
                    return new Row(stage, "failed", step, acc, job != null ? job : "pid " + a.pid(),
                            "process " + a.pid() + " ended without finishing the stage (killed?)"
                                    + (errorLine(log) != null ? ": " + errorLine(log) : ""), log, resubmit);
                return new Row(stage, "running", step, acc, job != null ? job : "pid " + a.pid() + (here ? "" : " on " + a.host()), null, log, null);
            }
        }
        if (e != null && e.job() != null && log != null && Files.isRegularFile(Path.of(log)))
            return new Row(stage, "failed", step, acc, job, why("job " + e.job() + " ended (Slurm no longer lists it)", error, log), log, resubmit);
        return new Row(stage, "pending", step, acc, job, null, log, null);
    }

    private static String why(String head, String error, String log) {
        String detail = error != null ? error : log != null ? lastError(Path.of(log)) : null;
        return detail != null ? head + ": " + detail : head;
    }

    private Slurm.Job slurmJob(String id) {
        if (!Slurm.available()) return null;
        String base = id.contains("_") ? id.substring(0, id.indexOf('_')) : id;
        Map<String, Slurm.Job> jobs = slurmJobs.computeIfAbsent(base, b -> {
            try {
                return Slurm.show(b);
            } catch (RuntimeException ex) {
                return Map.of();
            }
        });
        return jobs.get(id);
    }

    /** The command that runs one stage alone (finished stages are skipped), with the launch's threads: the same threads give the same weights. */
    private List<String> stageCommand(StageId id) {
        Integer threads = launch == null ? null : id.isModule() ? launch.moduleThreads() : launch.threads();
        return id.argv(new RunArgs(runDir.resolve("config.json"), runDir, null, threads, true));
    }

    /**
     * The line of a log that says why the process failed: the command line's one-line error ({@code dma <command>: ...}),
     * else the last exception line, else the last line; null if there is no log.
     */
    public static String lastError(Path log) {
        return lastError(log, false);
    }

    /** An error line of the log (not just its last line), or null. */
    private static String errorLine(String log) {
        return log == null ? null : lastError(Path.of(log), true);
    }

    private static String lastError(Path log, boolean errorsOnly) {
        if (log == null || !Files.isRegularFile(log)) return null;
        List<String> lines;
        try {
            lines = List.of(new String(Files.readAllBytes(log), StandardCharsets.UTF_8).split("\r?\n|\r"));
        } catch (IOException e) {
            return null;
        }
        String exception = null, lastLine = null;
        for (String l : lines) {
            String t = l.strip();
            if (t.isEmpty()) continue;
            lastLine = t;
            if (t.matches("dma [\\w-]+: .*")) exception = t;
            else if (!t.startsWith("at ") && (t.matches("^([\\w$]+\\.)+[\\w$]*(Exception|Error)(: .*)?") || t.startsWith("Caused by: ")
                    || t.startsWith("Exception in thread") || t.matches("slurmstepd(-\\S+)?: error: .*"))) exception = t;
        }
        String s = exception != null ? exception : errorsOnly ? null : lastLine;
        return s == null ? null : s.length() > 400 ? s.substring(0, 400) + "…" : s;
    }

    /** The report as a table, with why, log and resubmit lines under each failed stage. */
    public static String render(Report r) {
        StringBuilder b = new StringBuilder();
        b.append("run ").append(r.run()).append(r.launcher() != null ? " (launcher " + r.launcher() + ")" : "").append('\n');
        b.append(String.format("%-20s %-10s %7s %9s  %s%n", "stage", "state", "step", "accuracy", "job"));
        boolean unfinished = false, stopped = false, active = false;
        for (Row row : r.stages()) {
            b.append(String.format("%-20s %-10s %7s %9s  %s%n", row.stage(), row.state(), row.step() == null ? "-" : row.step(),
                    row.accuracy() == null ? "-" : String.format("%.2f%%", 100 * row.accuracy()), row.job() == null ? "" : row.job()));
            if (row.why() != null) b.append(row.state().equals("pending") ? "    " : "    why: ").append(row.why()).append('\n');
            if (row.state().equals("failed") && row.log() != null) b.append("    log: ").append(row.log()).append('\n');
            if (row.resubmit() != null) b.append("    resubmit: ").append(row.resubmit()).append('\n');
            unfinished |= !row.state().equals("done");
            stopped |= row.state().equals("failed") || row.state().equals("cancelled");
            active |= row.state().equals("running") || row.state().equals("pending") && row.why() != null;
        }
        // while jobs are queued or running, there is nothing to resubmit
        if (stopped || unfinished && !active)
            b.append("to run everything that has not finished (finished stages are skipped):\n  ").append(r.resume()).append('\n');
        return b.toString();
    }
}
