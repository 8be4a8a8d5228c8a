package dma.trainer.launch;

import dma.trainer.stage.Attempt;
import dma.trainer.stage.Pipeline;

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
 * The K module stages as parallel processes on this machine: each runs {@code dma <kind> --module i} with
 * {@code moduleThreads} threads, at most {@code threads / moduleThreads} at a time, so the processes together never
 * use more threads than the run has. A failed module does not stop the others; once all have ended, the failures are
 * reported together (and {@code dma status} shows each with its log and the command that reruns it).
 */
public final class LocalLauncher implements Pipeline.ModuleLauncher {
    private final Path runDir;
    private final DmaCommand dma;
    private final int threads, moduleThreads;
    private final List<String> stageOptions;

    /**
     * @param stageOptions options every module command gets after its {@code --module i}: config, run directory,
     *                     backend, resume (but not threads, which this launcher sets)
     */
    public LocalLauncher(Path runDir, DmaCommand dma, int threads, int moduleThreads, List<String> stageOptions) {
        this.runDir = runDir;
        this.dma = dma;
        this.threads = threads;
        this.moduleThreads = moduleThreads;
        this.stageOptions = List.copyOf(stageOptions);
    }

    /** Processes that run at once: as many as the thread budget allows, at least one. */
    public int slots() {
        return Math.max(1, threads / moduleThreads);
    }

    @Override
    public void run(String kind, List<Integer> modules) throws IOException {
        Deque<Integer> todo = new ArrayDeque<>(modules);
        Map<Integer, Process> running = new java.util.concurrent.ConcurrentHashMap<>();
        Map<Integer, Path> logs = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        // if this process is stopped (Ctrl-C), its module processes stop with it
        Thread stopChildren = new Thread(() -> running.values().forEach(Process::destroy));
        Runtime.getRuntime().addShutdownHook(stopChildren);
        try {
            while (!todo.isEmpty() || !running.isEmpty()) {
                while (!todo.isEmpty() && running.size() < slots()) {
                    int i = todo.poll();
                    running.put(i, start(kind, i, logs));
                }
                // wait for any one process to end
                Integer ended = null;
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
                String stage = kind + "-" + ended;
                LaunchRecord.Entry entry = LaunchRecord.read(runDir).stages().get(stage);
                LaunchRecord.updateEntry(runDir, stage, entry.withExit(code));
                if (code != 0) {
                    Attempt.Record a = Attempt.read(runDir, stage);
                    String why = a != null && a.error() != null ? a.error() : RunStatus.lastError(logs.get(ended));
                    failures.add(stage + " failed (exit " + code + (why != null ? ": " + why : "") + "); log " + logs.get(ended));
                    System.err.printf("%s: failed (exit %d); log %s%n", stage, code, logs.get(ended));
                } else System.err.printf("%s: done (process %d)%n", stage, p.pid());
            }
        } catch (InterruptedException e) {
            running.values().forEach(Process::destroy);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the " + kind + " processes", e);
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

    private Process start(String kind, int i, Map<Integer, Path> logs) throws IOException {
        String stage = kind + "-" + i;
        Path dir = runDir.resolve(stage);
        // the log lives in the stage directory; if that cannot be made, beside it, so the failure still has a log
        Path log;
        try {
            log = Files.createDirectories(dir).resolve("process.log");
        } catch (IOException e) {
            log = Files.createDirectories(runDir.resolve("logs")).resolve(stage + ".log");
        }
        List<String> args = new ArrayList<>(List.of(kind, "--module", Integer.toString(i)));
        args.addAll(stageOptions);
        args.addAll(List.of("--threads", Integer.toString(moduleThreads)));
        Process p = new ProcessBuilder(dma.argv(args)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        logs.put(i, log);
        List<String> again = new ArrayList<>(args); // run alone again, continuing from its last training checkpoint
        if (!again.contains("--resume")) again.add("--resume");
        LaunchRecord.updateEntry(runDir, stage, new LaunchRecord.Entry("local", null, p.pid(), null, log.toString(), null, dma.display(again)));
        System.err.printf("%s: running in process %d (%d threads), log %s%n", stage, p.pid(), moduleThreads, log);
        return p;
    }
}
