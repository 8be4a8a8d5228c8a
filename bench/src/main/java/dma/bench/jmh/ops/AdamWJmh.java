package dma.bench.jmh.ops;

import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.kernels.Optim;
import dma.models.ImageClassifier;
import dma.models.vit.ViTConfig;
import dma.trainer.optim.Optimizer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * AdamW over the parameters of DESIGN §5's ViT: the fused kernel on one flat buffer of that many floats,
 * and the trainer's optimizer step over the model's own tensors (one kernel call per tensor, DeiT's
 * no-decay rule). Both move the same bytes: parameter, gradient, m and v read, parameter, m and v written.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class AdamWJmh extends OpBench {
    @Param("12")
    public int depth;
    @Param("192")
    public int width;
    @Param("3")
    public int heads;
    @Param("4")
    public int mlpRatio;

    private Optim kernels;
    private Storage param, grad, m, v;
    private int n;
    private ImageClassifier model;
    private Optimizer optimizer;

    ViTConfig config() {
        return new ViTConfig(28, 4, 1, 10, width, depth, heads, mlpRatio, 0.1);
    }

    @Override
    public String shape() {
        try (ImageClassifier vit = config().build(backend(), 0)) {
            return vit.parameterCount() + " floats in " + vit.parameters().size() + " tensors (ViT depth " + depth + ", width " + width + ")";
        }
    }

    double stepGB() {
        return gigabytes(7.0 * n);
    }

    @Setup
    public void setup() {
        kernels = backend().optim();
        model = config().build(backend(), 0);
        n = Math.toIntExact(model.parameterCount());
        param = random(n).storage();
        grad = random(n).storage();
        m = zeros(n).storage();
        v = zeros(n).storage();
        for (Tensor p : model.parameters().values()) p.setGrad(random(p.shape()));
        optimizer = Optimizer.create("adamw", model.parameters(), 0.05, 0.9);
    }

    @Benchmark
    public void kernel(Work.Bytes work) {
        kernels.adamw(param, grad, m, v, n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.05f, 10);
        work.GB += stepGB();
    }

    @Benchmark
    public void optimizerStep(Work.Bytes work) {
        optimizer.step(1e-4f);
        work.GB += stepGB();
    }

    @TearDown
    public void tearDown() {
        optimizer.close();
        model.close();
        release();
    }
}
