package dma.bench.jmh.ops;

import dma.engine.Storage;
import dma.engine.kernels.Reductions;
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

/** Row softmax over the attention scores: [batch·heads·tokens, tokens] rows of one key each. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class SoftmaxJmh extends VitShape {
    private Reductions kernels;
    private Storage in, out, gradOut, gradIn;

    int softmaxRows() {
        return batch * heads * tokens;
    }

    @Override
    public String shape() {
        return "[" + softmaxRows() + ", " + tokens + "]";
    }

    /** in read, out written. */
    double forwardGB() {
        return gigabytes(2.0 * softmaxRows() * tokens);
    }

    /** out and gradOut read, gradIn read and written. */
    double backwardGB() {
        return gigabytes(4.0 * softmaxRows() * tokens);
    }

    @Setup
    public void setup() {
        kernels = backend().reductions();
        int r = softmaxRows(), c = tokens;
        in = random(r, c).storage();
        out = zeros(r, c).storage();
        gradOut = random(r, c).storage();
        gradIn = zeros(r, c).storage();
        kernels.softmax(in, out, r, c); // backward reads forward's probabilities
    }

    @Benchmark
    public void forward(Work.Bytes work) {
        kernels.softmax(in, out, softmaxRows(), tokens);
        work.GB += forwardGB();
    }

    @Benchmark
    public void backward(Work.Bytes work) {
        kernels.softmaxBackward(out, gradOut, gradIn, softmaxRows(), tokens);
        work.GB += backwardGB();
    }

    @TearDown
    public void tearDown() {
        release();
    }
}
