package dma.engine;

import dma.engine.cpu.Parallel;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where training steps spend their time, op by op. While a profile is open, every op's forward is timed from the end
 * of the op before it to its own end (ops end by offering themselves to the tape, which is where this hooks in), and
 * every node's backward from its start to its end; the device is synchronized at each of those points, so the kernels
 * of an asynchronous backend count in the op that launched them. Time outside ops (the loss's bookkeeping, the
 * optimizer) falls into the next op unless the caller names it with {@link #mark}.
 *
 * <p>The synchronizations cost time of their own (tens of µs each on a GPU), so a profiled step is slower than a
 * plain one: the shares are what a profile is for, and speeds come from the benchmarks. One profile at a time, on
 * the thread that runs the ops.
 *
 * <p>A traced profile ({@link #open(Backend, boolean)}) also keeps each interval as an event of a {@link Trace}, with the
 * steps the caller names ({@link #stepStarts}, {@link #stepEnded}) and the chunks of the CPU backend's parallel regions
 * that this thread opens, on the threads that ran them. The table does not change with it.
 */
public final class OpProfile implements AutoCloseable {
    /** One line of the profile: a phase ("forward", "backward" or a mark) with an op and its output's shape. */
    public record Row(String phase, String op, String shape, long nanos, long calls) {}

    private static OpProfile current;

    /** A row while it is being summed. */
    private static final class Sum {
        final String phase, op, shape;
        long nanos, calls;

        Sum(String phase, String op, String shape) {
            this.phase = phase;
            this.op = op;
            this.shape = shape;
        }
    }

    private final Backend device;
    private final Map<String, Sum> sums = new LinkedHashMap<>();
    private final Trace trace;
    private long last;

    private OpProfile(Backend device, boolean traced) {
        this.device = device;
        device.synchronize();
        last = System.nanoTime();
        trace = traced ? new Trace(Thread.currentThread(), last) : null;
        if (trace != null) Parallel.record(Thread.currentThread(), trace.recorder);
    }

    /** Starts profiling the ops run on {@code device}; close it to stop. */
    public static OpProfile open(Backend device) {
        return open(device, false);
    }

    /** {@link #open(Backend)}, keeping a timeline ({@link #trace()}) too when {@code traced}. */
    public static OpProfile open(Backend device, boolean traced) {
        if (current != null) throw new IllegalStateException("an op profile is already open");
        current = new OpProfile(device, traced);
        return current;
    }

    /** The timeline of a traced profile, or null. */
    public Trace trace() {
        return trace;
    }

    /**
     * Starts a step called {@code name} on the trace's timeline at the last boundary (the end of the last op or mark),
     * so that a step that begins and ends with a mark holds its ops exactly. Only the trace sees steps (no-op without one).
     */
    public void stepStarts(String name) {
        if (trace != null) trace.stepStarts(name, last);
    }

    /** Ends the step at the last boundary: call it after the step's last op or mark. */
    public void stepEnded() {
        if (trace != null) trace.stepEnded(last);
    }

    /**
     * Stops timing until {@link #resume}: the ops run meanwhile (an evaluation between two traced training steps) are
     * neither in the table nor on the timeline, which shows the pause as a gap.
     */
    public void pause() {
        if (current != this) throw new IllegalStateException("the profile is not running");
        if (trace != null) Parallel.stopRecording(trace.recorder);
        current = null;
    }

    /** Starts timing again after {@link #pause}, from now. */
    public void resume() {
        if (current == this) return;
        if (current != null) throw new IllegalStateException("an op profile is already open");
        device.synchronize();
        last = System.nanoTime();
        current = this;
        if (trace != null) Parallel.record(Thread.currentThread(), trace.recorder);
    }

    /** Whether a profile is open. */
    public static boolean active() {
        return current != null;
    }

    /** The time since the last op or mark, under {@code label} (no-op when no profile is open). */
    public static void mark(String label) {
        OpProfile p = current;
        if (p != null) p.add(label, "", "", p.boundary(), true);
    }

    /** Called by the tape as an op ends: the time since the previous boundary is this op's forward. */
    public static void forwardEnded(String op, Tensor out) {
        OpProfile p = current;
        if (p != null) p.add("forward", op, out.shapeString(), p.boundary(), false);
    }

    /** Called by the tape before a node's backward runs; returns the start to hand to {@link #backwardEnded}. */
    public static long backwardStarts() {
        OpProfile p = current;
        if (p == null) return 0;
        p.add("backward", "(the tape, between nodes)", "", p.boundary(), false);
        return p.last;
    }

    /** Called by the tape after a node's backward has run. */
    public static void backwardEnded(String op, Tensor out, long start) {
        OpProfile p = current;
        if (p != null) {
            p.boundary();
            p.add("backward", op, out.shapeString(), p.last - start, false);
        }
    }

    /** Synchronizes the device and moves the boundary to now; returns the time since the previous one. */
    private long boundary() {
        device.synchronize();
        long now = System.nanoTime(), elapsed = now - last;
        last = now;
        return elapsed;
    }

    /** Adds the interval of {@code nanos} that ends at the last boundary. */
    private void add(String phase, String op, String shape, long nanos, boolean mark) {
        if (trace != null) trace.interval(phase, op, shape, mark, last - nanos, last);
        Sum sum = sums.computeIfAbsent(phase + '\0' + op + '\0' + shape, k -> new Sum(phase, op, shape));
        sum.nanos += nanos;
        sum.calls++;
    }

    /** The rows so far, the most time first. */
    public List<Row> rows() {
        List<Row> out = new ArrayList<>();
        for (Sum s : sums.values()) out.add(new Row(s.phase, s.op, s.shape, s.nanos, s.calls));
        out.sort(Comparator.comparingLong(Row::nanos).reversed());
        return out;
    }

    /** A table of the rows per step over {@code steps} steps: ms per step, share, calls per step, what. */
    public String table(int steps, int limit) {
        List<Row> all = rows();
        double total = all.stream().mapToLong(Row::nanos).sum();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%10s %7s %11s  %s%n", "ms/step", "share", "calls/step", "phase, op, output shape"));
        for (Row r : all.subList(0, Math.min(limit, all.size())))
            b.append(String.format(Locale.ROOT, "%10.2f %6.1f%% %11.1f  %s%n", r.nanos() / 1e6 / steps, 100 * r.nanos() / total,
                    (double) r.calls() / steps, (r.phase() + " " + r.op() + " " + r.shape()).trim()));
        if (all.size() > limit) {
            long rest = all.subList(limit, all.size()).stream().mapToLong(Row::nanos).sum();
            b.append(String.format(Locale.ROOT, "%10.2f %6.1f%% %11s  %d more rows%n", rest / 1e6 / steps, 100 * rest / total, "", all.size() - limit));
        }
        b.append(String.format(Locale.ROOT, "%10.2f %6.1f%% %11s  in all%n", total / 1e6 / steps, 100.0, ""));
        return b.toString();
    }

    @Override
    public void close() {
        if (trace != null) Parallel.stopRecording(trace.recorder);
        if (current == this) current = null;
    }
}
