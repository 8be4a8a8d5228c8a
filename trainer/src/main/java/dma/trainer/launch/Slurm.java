package dma.trainer.launch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Slurm commands the launcher needs, run as processes: {@code sbatch --parsable}, {@code scontrol -o show job}
 * (there is no {@code sacct} without slurmdbd), {@code scancel}. Job states are Slurm's own words.
 */
public final class Slurm {
    /** States after which a job will not run again by itself. */
    public static final Set<String> TERMINAL = Set.of("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT");
    private static final Pattern FIELD = Pattern.compile("(?:^|\\s)([A-Za-z/:]+)=(\\S*)");

    /**
     * One job, or one task of an array job.
     *
     * @param id       {@code 12}, or {@code 12_3} for task 3 of array job 12
     * @param state    JobState, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT
     * @param reason   Reason, e.g. Dependency, DependencyNeverSatisfied, NonZeroExitCode, None
     * @param exitCode ExitCode as {@code status:signal}
     */
    public record Job(String id, String state, String reason, String exitCode) {
        public boolean terminal() {
            return TERMINAL.contains(state);
        }

        /** PENDING on a dependency that failed: it will never run (unless cancelled, it pends forever). */
        public boolean neverRuns() {
            return state.equals("PENDING") && reason.equals("DependencyNeverSatisfied");
        }
    }

    private Slurm() {}

    /** Whether the Slurm client commands are on the PATH. */
    public static boolean available() {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(java.io.File.pathSeparator))
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "sbatch")) && Files.isExecutable(Path.of(d, "scontrol"))) return true;
        return false;
    }

    /** Submits a batch script with extra options, returning the job id. */
    public static String sbatch(List<String> options, Path script) {
        List<String> cmd = new ArrayList<>(List.of("sbatch", "--parsable"));
        cmd.addAll(options);
        cmd.add(script.toString());
        Result r = exec(cmd);
        if (r.code != 0) throw new IllegalStateException("sbatch failed (exit " + r.code + "): " + r.err.strip() + "\n  command: " + DmaCommand.shell(cmd));
        String out = r.out.strip();
        String id = out.contains(";") ? out.substring(0, out.indexOf(';')) : out; // "id;cluster" on multi-cluster set-ups
        if (!id.matches("\\d+")) throw new IllegalStateException("sbatch printed '" + out + "', not a job id; command: " + DmaCommand.shell(cmd));
        return id;
    }

    /**
     * The job, or every task of the array job, by id ({@code 12} or {@code 12_3}); tasks still pending together are
     * listed one by one. Empty when Slurm no longer knows the job (it forgets finished jobs after MinJobAge).
     */
    public static Map<String, Job> show(String jobId) {
        Result r = exec(List.of("scontrol", "-o", "show", "job", jobId));
        Map<String, Job> jobs = new LinkedHashMap<>();
        if (r.code != 0) {
            if (r.err.contains("Invalid job id")) return jobs;
            throw new IllegalStateException("scontrol show job " + jobId + " failed (exit " + r.code + "): " + r.err.strip());
        }
        for (String line : r.out.split("\n")) {
            if (line.isBlank()) continue;
            Map<String, String> f = fields(line);
            String state = f.getOrDefault("JobState", "UNKNOWN"), reason = f.getOrDefault("Reason", "None"),
                    exit = f.getOrDefault("ExitCode", "0:0");
            String array = f.get("ArrayJobId"), tasks = f.get("ArrayTaskId");
            if (array == null || tasks == null) {
                jobs.put(f.get("JobId"), new Job(f.get("JobId"), state, reason, exit));
                continue;
            }
            for (int t : taskIds(tasks)) jobs.put(array + "_" + t, new Job(array + "_" + t, state, reason, exit));
        }
        return jobs;
    }

    public static void cancel(String jobId) {
        Result r = exec(List.of("scancel", jobId));
        if (r.code != 0) throw new IllegalStateException("scancel " + jobId + " failed: " + r.err.strip());
    }

    static Map<String, String> fields(String line) {
        Map<String, String> f = new LinkedHashMap<>();
        Matcher m = FIELD.matcher(line);
        while (m.find()) f.putIfAbsent(m.group(1), m.group(2));
        return f;
    }

    /** Array task ids as scontrol prints them: {@code 3}, {@code 0-7}, {@code 1,3,5-6}, {@code 0-15%4}, {@code 0-9:2}. */
    static List<Integer> taskIds(String spec) {
        List<Integer> ids = new ArrayList<>();
        String s = spec.replace("[", "").replace("]", "");
        if (s.contains("%")) s = s.substring(0, s.indexOf('%'));
        for (String part : s.split(",")) {
            if (part.isEmpty()) continue;
            int step = 1;
            if (part.contains(":")) {
                step = Integer.parseInt(part.substring(part.indexOf(':') + 1));
                part = part.substring(0, part.indexOf(':'));
            }
            if (part.contains("-")) {
                int a = Integer.parseInt(part.substring(0, part.indexOf('-'))), b = Integer.parseInt(part.substring(part.indexOf('-') + 1));
                for (int i = a; i <= b; i += step) ids.add(i);
            } else ids.add(Integer.parseInt(part));
        }
        return ids;
    }

    private record Result(int code, String out, String err) {}

    private static Result exec(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            // both outputs are small; read stderr on another thread so neither pipe can fill and block
            var err = new java.util.concurrent.CompletableFuture<String>();
            Thread t = new Thread(() -> {
                try {
                    err.complete(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    err.complete("");
                }
            });
            t.setDaemon(true);
            t.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", cmd) + " did not answer within 120 s");
            }
            return new Result(p.exitValue(), out, err.get(10, TimeUnit.SECONDS));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd.get(0) + " (is Slurm's client installed and on the PATH?): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + cmd.get(0), e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException(cmd.get(0) + ": " + e.getMessage(), e);
        }
    }
}
