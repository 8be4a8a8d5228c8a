package dma.bench.jmh;

import dma.bench.VitBlock;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
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
 * One pre-norm ViT block (batch 64 × 50 tokens, width 192, 3 heads) forward + backward of the sum of
 * outputs, as {@code dma bench vit-block} times it. The score is images/s: an invocation counts as
 * {@value #BATCH} operations (its images), in ops/s.
 * Run: {@code java -cp bench/target/dma.jar org.openjdk.jmh.Main VitBlockJmh -f 1 -wi 2 -i 3}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(VitBlockJmh.BATCH)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class VitBlockJmh {
    static final int BATCH = 64, TOKENS = 50, WIDTH = 192, HEADS = 3;

    /** Threads of the CPU backend; 0 = the machine's cores. */
    @Param("0")
    public int threads;

    private VitBlock block;
    private Tensor x;

    @Setup
    public void setup() {
        CpuBackend be = CpuBackend.withThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
        block = new VitBlock(be, 0, WIDTH, HEADS);
        x = Tensor.normal(be, 1, 0f, 1f, BATCH, TOKENS, WIDTH).requiresGrad(true);
    }

    @Benchmark
    public void step() {
        block.step(x);
    }

    @TearDown
    public void tearDown() {
        block.close();
        x.close();
    }
}
