package dma.bench.jmh.ops;

import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.State;

import java.util.ArrayList;
import java.util.List;

/**
 * What every per-op benchmark shares: the CPU backend with its thread count, operands that live for the
 * whole trial, and a description of the op's shapes for the table {@code dma bench ops} writes. The score
 * is calls/s; the {@link Work} counters turn it into GB/s or GFLOP/s.
 *
 * <p>{@link #shape()} and the work per call depend on the {@code @Param} fields alone, so the table can
 * describe a result from its parameters without running a setup.
 */
@State(org.openjdk.jmh.annotations.Scope.Thread) // JMH reads @Param fields only in @State classes, inherited ones included
public abstract class OpBench {
    static final int FLOAT_BYTES = 4;

    /** Threads of the CPU backend; 0 = the machine's cores. */
    @Param("0")
    public int threads;

    private final List<Tensor> operands = new ArrayList<>();
    private long seed;

    /** The op's operand shapes, as the table shows them. */
    public abstract String shape();

    /**
     * The CPU backend with this benchmark's {@link #threads}. Looked up at setup, not at construction: the table builds
     * instances to describe results.
     */
    Backend backend() {
        return CpuBackend.withThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
    }

    /** A standard-normal operand, freed by {@link #release()} (not by any scope). */
    Tensor random(int... shape) {
        return own(Scope.persistent(() -> Tensor.normal(backend(), ++seed, 0f, 1f, shape)));
    }

    Tensor zeros(int... shape) {
        return own(Scope.persistent(() -> Tensor.zeros(backend(), shape)));
    }

    private Tensor own(Tensor t) {
        operands.add(t);
        return t;
    }

    /** Frees the operands (a tensor takes its gradient with it). */
    void release() {
        operands.forEach(Tensor::close);
        operands.clear();
    }

    static double gigabytes(double floats) {
        return floats * FLOAT_BYTES / 1e9;
    }
}
