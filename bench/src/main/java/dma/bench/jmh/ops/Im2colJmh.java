package dma.bench.jmh.ops;

import dma.engine.Storage;
import dma.engine.kernels.Layout;
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
 * im2col and its adjoint col2im for the 3×3, padding-1 convolutions of the CIFAR ResNets (DESIGN §5's
 * ResNet-110 step, batch 128). {@code conv} is channels × input size, stride: the stem (3×32, s1), the
 * three stages (16×32, 32×16, 64×8, s1) and the two downsampling convolutions (16×32, 32×16, s2).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class Im2colJmh extends OpBench {
    static final int KERNEL = 3, PAD = 1;

    @Param("128")
    public int batch;
    @Param({"3x32s1", "16x32s1", "16x32s2", "32x16s1", "32x16s2", "64x8s1"})
    public String conv;

    private Layout kernels;
    private Storage in, cols, gradCols, gradIn;
    // parsed once: the timed calls only read these
    private int channels, size, stride, out;
    private double im2colGB, col2imGB;

    /** {channels, size, stride} of {@link #conv}. */
    int[] geometry() {
        String[] parts = conv.split("[xs]");
        if (parts.length != 3) throw new IllegalArgumentException("conv must be <channels>x<size>s<stride>, got '" + conv + "'");
        return new int[]{Integer.parseInt(parts[0]), Integer.parseInt(parts[1]), Integer.parseInt(parts[2])};
    }

    int outSize() {
        int[] g = geometry();
        return (g[1] + 2 * PAD - KERNEL) / g[2] + 1;
    }

    long inputFloats() {
        int[] g = geometry();
        return (long) batch * g[0] * g[1] * g[1];
    }

    long colsFloats() {
        return (long) geometry()[0] * KERNEL * KERNEL * batch * outSize() * outSize();
    }

    @Override
    public String shape() {
        int[] g = geometry();
        return "[" + batch + ", " + g[0] + ", " + g[1] + ", " + g[1] + "] → [" + g[0] * KERNEL * KERNEL + ", "
                + (long) batch * outSize() * outSize() + "], 3×3 stride " + g[2];
    }

    /** The image read, the columns written. */
    double im2colGB() {
        return gigabytes(inputFloats() + colsFloats());
    }

    /** The columns read, the image gradient read and written. */
    double col2imGB() {
        return gigabytes(colsFloats() + 2.0 * inputFloats());
    }

    @Setup
    public void setup() {
        kernels = backend().layout();
        int[] g = geometry();
        channels = g[0];
        size = g[1];
        stride = g[2];
        out = outSize();
        im2colGB = im2colGB();
        col2imGB = col2imGB();
        int rows = channels * KERNEL * KERNEL, columns = Math.toIntExact((long) batch * out * out);
        in = random(batch, channels, size, size).storage();
        cols = zeros(rows, columns).storage();
        gradCols = random(rows, columns).storage();
        gradIn = zeros(batch, channels, size, size).storage();
    }

    @Benchmark
    public void im2col(Work.Bytes work) {
        kernels.im2col(in, 0, batch, channels, size, size, KERNEL, KERNEL, stride, PAD, out, out, cols);
        work.GB += im2colGB;
    }

    @Benchmark
    public void col2im(Work.Bytes work) {
        kernels.col2im(gradCols, batch, channels, size, size, KERNEL, KERNEL, stride, PAD, out, out, gradIn, 0);
        work.GB += col2imGB;
    }

    @TearDown
    public void tearDown() {
        release();
    }
}
