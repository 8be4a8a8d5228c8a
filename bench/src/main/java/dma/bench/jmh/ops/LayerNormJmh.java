package dma.bench.jmh.ops;

import dma.engine.Storage;
import dma.engine.kernels.Normalization;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/** The fused LayerNorm kernels over the ViT's token rows [batch·tokens, width]. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class LayerNormJmh extends VitShape {
    private Normalization kernels;
    private Storage x, weight, bias, out, mean, rstd, gradOut, gradIn, gradWeight, gradBias;

    @Override
    public String shape() {
        return "[" + rows() + ", " + width + "]";
    }

    /** x read, out written; weight, bias, mean and rstd are small. */
    double forwardGB() {
        return gigabytes(2.0 * rows() * width + 2.0 * width + 2.0 * rows());
    }

    /** gradOut and x read, gradIn read and written, mean and rstd read, weight read, gradWeight and gradBias read and written. */
    double backwardGB() {
        return gigabytes(4.0 * rows() * width + 2.0 * rows() + 5.0 * width);
    }

    @Setup
    public void setup() {
        kernels = backend().normalization();
        int r = rows(), c = width;
        x = random(r, c).storage();
        weight = random(c).storage();
        bias = random(c).storage();
        out = zeros(r, c).storage();
        mean = zeros(r).storage();
        rstd = zeros(r).storage();
        gradOut = random(r, c).storage();
        gradIn = zeros(r, c).storage();
        gradWeight = zeros(c).storage();
        gradBias = zeros(c).storage();
        forward(new Work.Bytes()); // backward reads the statistics forward saves
    }

    @Benchmark
    public void forward(Work.Bytes work) {
        kernels.layerNorm(x, weight, bias, out, mean, rstd, rows(), width, 1e-6f);
        work.GB += forwardGB();
    }

    @Benchmark
    public void backward(Work.Bytes work) {
        kernels.layerNormBackward(gradOut, x, weight, mean, rstd, gradIn, gradWeight, gradBias, rows(), width);
        work.GB += backwardGB();
    }

    @TearDown
    public void tearDown() {
        release();
    }
}
