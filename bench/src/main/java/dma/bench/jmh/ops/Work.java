package dma.bench.jmh.ops;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * JMH counters of the work done, reported next to the calls/s score. A benchmark adds its work per call;
 * in throughput mode with seconds as the time unit, JMH divides the sum by the iteration's time, so the
 * secondary score {@code GB} reads in GB/s and {@code GFLOP} in GFLOP/s.
 */
public final class Work {
    private Work() {}

    /**
     * Bytes moved, counted as the least traffic the op can do: every operand read once, every result
     * written once, an accumulated (+=) gradient read and written.
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Bytes {
        public double GB;

        @Setup(Level.Iteration)
        public void reset() {
            GB = 0;
        }
    }

    /** Floating-point operations of the op's products (a multiply-add counts two). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public double GFLOP;

        @Setup(Level.Iteration)
        public void reset() {
            GFLOP = 0;
        }
    }
}
