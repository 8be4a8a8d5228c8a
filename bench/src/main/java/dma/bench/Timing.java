package dma.bench;

import java.util.Arrays;

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
        long start = System.nanoTime();
        int calls = 0;
        while (calls < WARMUP_CALLS || System.nanoTime() - start < WARMUP_S * 1e9) {
            call.run();
            sync.run();
            calls++;
        }
        double perCall = (System.nanoTime() - start) / 1e9 / calls;
        int inner = (int) Math.max(1, Math.ceil(MIN_REP_S / perCall));
        double[] seconds = new double[reps];
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < inner; i++) call.run();
            sync.run();
            seconds[r] = (System.nanoTime() - t0) / 1e9 / inner;
        }
        return new Result(inner, seconds);
    }

    /** Median as Python's statistics.median computes it (mean of the middle two for an even count). */
    public static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
