package dma.bench.jmh;

import dma.engine.GradMode;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.ops.BlasOps;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * sgemm 1024³ on the CPU backend (BlasOps.matmul), as {@code dma bench gemm} times it.
 * The score is GFLOP/s, through @OperationsPerInvocation: one call does 2·1024³ = 2147.48 M floating-point
 * operations, counted as 2147 "operations" and reported in ops/ms, so ops/ms = MFLOP/ms = GFLOP/s
 * (0.02% low from the rounding; the annotation takes an int, and 2·1024³ overflows one).
 * Run: {@code java -cp bench/target/dma.jar org.openjdk.jmh.Main GemmJmh -f 1 -wi 2 -i 3}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@OperationsPerInvocation(GemmJmh.MFLOP)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GemmJmh {
    static final int N = 1024;
    static final int MFLOP = 2147;

    /** Threads of the CPU backend; 0 = the machine's cores. */
    @Param("0")
    public int threads;

    private Tensor a, b;

    @Setup
    public void setup() {
        CpuBackend be = CpuBackend.withThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
        a = Tensor.uniform(be, 1, -1f, 1f, N, N);
        b = Tensor.uniform(be, 2, -1f, 1f, N, N);
    }

    @Benchmark
    public void sgemm() {
        // the output is freed (to the allocator's cache) with the scope, as in a training step
        try (GradMode g = GradMode.disabled(); dma.engine.Scope s = dma.engine.Scope.open()) {
            BlasOps.matmul(a, b);
        }
    }

    @TearDown
    public void tearDown() {
        a.close();
        b.close();
    }
}
