package dma.bench.jmh.ops;

import dma.engine.Storage;
import dma.engine.kernels.Elementwise;
import dma.engine.kernels.Elementwise.Activation;
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

/** GELU (erf form) on the MLP's hidden activations [batch·tokens, width·mlpRatio]. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class GeluJmh extends VitShape {
    private Elementwise kernels;
    private Storage in, out, gradOut, gradIn;

    int hidden() {
        return width * mlpRatio;
    }

    int elements() {
        return rows() * hidden();
    }

    @Override
    public String shape() {
        return "[" + rows() + ", " + hidden() + "]";
    }

    /** in read, out written. */
    double forwardGB() {
        return gigabytes(2.0 * elements());
    }

    /** in and gradOut read, gradIn read and written. */
    double backwardGB() {
        return gigabytes(4.0 * elements());
    }

    @Setup
    public void setup() {
        kernels = backend().elementwise();
        in = random(rows(), hidden()).storage();
        out = zeros(rows(), hidden()).storage();
        gradOut = random(rows(), hidden()).storage();
        gradIn = zeros(rows(), hidden()).storage();
    }

    @Benchmark
    public void forward(Work.Bytes work) {
        kernels.activation(Activation.GELU, in, out, elements());
        work.GB += forwardGB();
    }

    @Benchmark
    public void backward(Work.Bytes work) {
        kernels.activationBackward(Activation.GELU, in, gradOut, gradIn, elements());
        work.GB += backwardGB();
    }

    @TearDown
    public void tearDown() {
        release();
    }
}
