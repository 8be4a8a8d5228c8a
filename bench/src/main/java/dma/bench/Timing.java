package dma.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The timing rule both sides follow (bench/peers/torch_bench.py mirrors it): warm up for at least
 * {@value #WARMUP_CALLS} calls and {@value #WARMUP_S} s (three calls alone left the first repetitions
 * 30-50% slow on these machines), then time {@code reps} repetitions of {@code inner} calls each, inner
 * chosen from the mean warm-up call so that a repetition lasts at least {@value #MIN_REP_S} s
 * (a single small GEMM is too short for the clock). Figures are per call.
 */
public final class Timing {
    static final int WARMUP_CALLS = 3;
    static final double WARMUP_S = 0.5;
    static final double MIN_REP_S = 0.1;

    /** Seconds per call, one entry per repetition. */
    public record Result(int inner, double[] seconds) {}

    private Timing() {}

    public static Result time(Runnable call, int reps) {
        return time(call, reps, () -> {});
    }

    /**
     * The same rule for work that runs asynchronously (a GPU backend queues kernels): {@code sync} waits for
     * it, after each warm-up call and at the end of each repetition, so the clock times the work, not the queueing.
     */
    public static Result time(Runnable call, int reps, Runnable sync) {
        return interleaved(List.of(call), reps, sync).get(0);
    }

    public static List<Result> interleaved(List<Runnable> calls, int reps) {
        return interleaved(calls, reps, () -> {});
    }

    /**
     * Several workloads under the same rule, each warmed up in turn, then their repetitions taken in turns
     * (one of each, then the next round), so that a change in the machine's load falls on all of them alike
     * and their ratio stays meaningful on a shared machine.
     */
    public static List<Result> interleaved(List<Runnable> calls, int reps, Runnable sync) {
        int[] inner = new int[calls.size()];
        for (int w = 0; w < calls.size(); w++) inner[w] = warmUp(calls.get(w), sync);
        double[][] seconds = new double[calls.size()][reps];
        for (int r = 0; r < reps; r++)
            for (int w = 0; w < calls.size(); w++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < inner[w]; i++) calls.get(w).run();
                sync.run();
                seconds[w][r] = (System.nanoTime() - t0) / 1e9 / inner[w];
            }
        List<Result> out = new ArrayList<>();
        for (int w = 0; w < calls.size(); w++) out.add(new Result(inner[w], seconds[w]));
        return out;
    }

    /** Runs the warm-up and returns the calls per repetition. */
    private static int warmUp(Runnable call, Runnable sync) {
        long start = System.nanoTime();
        int calls = 0;
        while (calls < WARMUP_CALLS || System.nanoTime() - start < WARMUP_S * 1e9) {
            call.run();
            sync.run();
            calls++;
        }
        double perCall = (System.nanoTime() - start) / 1e9 / calls;
        return (int) Math.max(1, Math.ceil(MIN_REP_S / perCall));
    }

    /** Median as Python's statistics.median computes it (mean of the middle two for an even count). */
    public static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
