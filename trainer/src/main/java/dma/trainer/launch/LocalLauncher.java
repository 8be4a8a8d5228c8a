package dma.trainer.launch;

import dma.trainer.stage.Attempt;
import dma.trainer.stage.Pipeline;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageId;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The K module stages as parallel processes on this machine: each runs {@code dma incubate --module i} (or imitate, distdata) with
 * {@code moduleThreads} threads, at most {@code threads / moduleThreads} at a time, so the processes together never
 * use more threads than the run has. A failed module does not stop the others; once all have ended, the failures are
 * reported together (and {@code dma status} shows each with its log and the command that reruns it).
 */
public final class LocalLauncher implements Pipeline.ModuleLauncher {
    private final Path runDir;
    private final DmaCommand dma;
    private final int threads, moduleThreads;
    private final RunArgs args;

    /** @param args the options every module command gets: config, run directory, backend, resume (its threads are set here) */
    public LocalLauncher(Path runDir, DmaCommand dma, int threads, int moduleThreads, RunArgs args) {
        this.runDir = runDir;
        this.dma = dma;
        this.threads = threads;
        this.moduleThreads = moduleThreads;
        this.args = args.withThreads(moduleThreads);
    }

    /** Processes that run at once: as many as the thread budget allows, at least one. */
    public int slots() {
        return Math.max(1, threads / moduleThreads);
    }

    @Override
    public void run(List<StageId> modules) throws IOException {
        Deque<StageId> todo = new ArrayDeque<>(modules);
        Map<StageId, Process> running = new java.util.concurrent.ConcurrentHashMap<>();
        Map<StageId, Path> logs = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        // if this process is stopped (Ctrl-C), its module processes stop with it
        Thread stopChildren = new Thread(() -> running.values().forEach(Process::destroy));
        Runtime.getRuntime().addShutdownHook(stopChildren);
        try {
            while (!todo.isEmpty() || !running.isEmpty()) {
                while (!todo.isEmpty() && running.size() < slots()) {
                    StageId id = todo.poll();
                    running.put(id, start(id, logs));
                }
                // wait for any one process to end
                StageId ended = null;
                while (ended == null) {
                    for (var e : running.entrySet())
                        if (!e.getValue().isAlive()) {
                            ended = e.getKey();
                            break;
                        }
                    if (ended == null) running.values().iterator().next().waitFor(200, TimeUnit.MILLISECONDS);
                }
                Process p = running.remove(ended);
                int code = p.exitValue();
                String stage = ended.name();
                LaunchRecord.Entry entry = LaunchRecord.read(runDir).stages().get(stage);
                LaunchRecord.updateEntry(runDir, stage, entry.withExit(code));
                if (code != 0) {
                    Attempt.Record a = Attempt.read(runDir, ended);
                    String why = a != null && a.error() != null ? a.error() : RunStatus.lastError(logs.get(ended));
                    failures.add(stage + " failed (exit " + code + (why != null ? ": " + why : "") + "); log " + logs.get(ended));
                    System.err.printf("%s: failed (exit %d); log %s%n", stage, code, logs.get(ended));
                } else System.err.printf("%s: done (process %d)%n", stage, p.pid());
            }
        } catch (InterruptedException e) {
            running.values().forEach(Process::destroy);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the module processes", e);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopChildren);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running
            }
        }
        if (!failures.isEmpty())
            throw new IllegalStateException(String.join("; ", failures) + ". See dma status " + runDir + " for the commands that rerun them");
    }

    private Process start(StageId id, Map<StageId, Path> logs) throws IOException {
        String stage = id.name();
        Path dir = id.dir(runDir);
        // the log lives in the stage directory; if that cannot be made, beside it, so the failure still has a log
        Path log;
        try {
            log = Files.createDirectories(dir).resolve("process.log");
        } catch (IOException e) {
            log = Files.createDirectories(runDir.resolve("logs")).resolve(stage + ".log");
        }
        Process p = new ProcessBuilder(dma.argv(id.argv(args))).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        logs.put(id, log);
        List<String> again = id.argv(args.withResume(true)); // run alone again, continuing from its last training checkpoint
        LaunchRecord.updateEntry(runDir, stage, new LaunchRecord.Entry("local", null, p.pid(), null, log.toString(), null, dma.display(again)));
        System.err.printf("%s: running in process %d (%d threads), log %s%n", stage, p.pid(), moduleThreads, log);
        return p;
    }
}
