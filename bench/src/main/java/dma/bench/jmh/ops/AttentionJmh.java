package dma.bench.jmh.ops;

import dma.engine.GradMode;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.kernels.Attention;
import dma.engine.ops.AttentionOps;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Scaled dot-product attention over [batch·heads, tokens, head width]: the fused kernels of the backend's
 * Attention family, and the composed form (batched matmul, scale, row softmax, matmul) as the ops run it,
 * with its outputs from the allocator's cache and its backward through the tape.
 *
 * <p>GFLOP counts the products only, as {@link dma.engine.Flops} does: forward q·kᵀ and p·v, backward
 * four products of the same size. The composed backward starts from the sum of the outputs, so it also
 * spreads a gradient of ones over [batch, heads, tokens, head width] (one write of the output's size).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class AttentionJmh extends VitShape {
    private Attention kernels;
    private Tensor q, k, v;
    private Storage out, probs, gradOut, gradQ, gradK, gradV;

    int entries() {
        return batch * heads;
    }

    float scale() {
        return (float) (1.0 / Math.sqrt(headWidth()));
    }

    @Override
    public String shape() {
        return "[" + entries() + ", " + tokens + ", " + headWidth() + "]";
    }

    /** One [tokens, tokens, head width] product per entry, 2 FLOP per multiply-add. */
    double productGFLOP() {
        return 2.0 * entries() * tokens * tokens * headWidth() / 1e9;
    }

    @Setup
    public void setup() {
        kernels = backend().attention();
        int d = headWidth();
        // [batch, heads, tokens, d] is [batch·heads, tokens, d] in memory: the fused kernels read the same tensors
        q = random(batch, heads, tokens, d).requiresGrad(true);
        k = random(batch, heads, tokens, d).requiresGrad(true);
        v = random(batch, heads, tokens, d).requiresGrad(true);
        out = zeros(entries(), tokens, d).storage();
        probs = zeros(entries(), tokens, tokens).storage();
        gradOut = random(entries(), tokens, d).storage();
        gradQ = zeros(entries(), tokens, d).storage();
        gradK = zeros(entries(), tokens, d).storage();
        gradV = zeros(entries(), tokens, d).storage();
        kernels.attention(q.storage(), 0, k.storage(), 0, v.storage(), 0, out, probs, entries(), tokens, d, scale()); // backward reads the weights
    }

    @Benchmark
    public void fusedForward(Work.Flops work) {
        kernels.attention(q.storage(), 0, k.storage(), 0, v.storage(), 0, out, probs, entries(), tokens, headWidth(), scale());
        work.GFLOP += 2 * productGFLOP();
    }

    @Benchmark
    public void fusedBackward(Work.Flops work) {
        kernels.attentionBackward(q.storage(), 0, k.storage(), 0, v.storage(), 0, probs, gradOut, gradQ, gradK, gradV,
                entries(), tokens, headWidth(), scale());
        work.GFLOP += 4 * productGFLOP();
    }

    @Benchmark
    public void composedForward(Work.Flops work) {
        // no tape; the scores, weights and output go back to the allocator's cache with the scope
        try (GradMode off = GradMode.disabled(); dma.engine.Scope s = dma.engine.Scope.open()) {
            AttentionOps.attentionComposed(q, k, v, scale());
        }
        work.GFLOP += 2 * productGFLOP();
    }

    @Benchmark
    public void composedBackward(Tape tape, Work.Flops work) {
        tape.loss.backward();
        work.GFLOP += 4 * productGFLOP();
    }

    /** The composed forward on the tape, recorded before each timed backward and freed after it. */
    @State(Scope.Thread)
    public static class Tape {
        Tensor loss;
        private dma.engine.Scope scope;

        @Setup(Level.Invocation)
        public void record(AttentionJmh a) {
            a.q.zeroGrad();
            a.k.zeroGrad();
            a.v.zeroGrad();
            scope = dma.engine.Scope.open();
            loss = AttentionOps.attentionComposed(a.q, a.k, a.v, a.scale()).sumAll();
        }

        @TearDown(Level.Invocation)
        public void free() {
            scope.close();
        }
    }

    @TearDown
    public void tearDown() {
        release();
    }
}
