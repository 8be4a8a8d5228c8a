package dma.engine.cpu;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Kernels told to overwrite a new gradient (Autograd.GradTarget) must write every element of it: started from
 * NaN, the result must equal adding into zeros, bit for bit.
 */
class CpuOverwriteGradTest {
    private static final CpuBackend BE = CpuBackend.get();
    private final Random random = new Random(5);

    private Storage filled(int n, float v) {
        Storage s = BE.allocate(4L * n);
        for (int i = 0; i < n; i++) CpuBackend.f(s).put(i, v);
        return s;
    }

    private Storage random(int n) {
        Storage s = BE.allocate(4L * n);
        for (int i = 0; i < n; i++) CpuBackend.f(s).put(i, (float) random.nextGaussian());
        return s;
    }

    private static float[] read(Storage s, int n) {
        float[] a = new float[n];
        CpuBackend.f(s).get(0, a, 0, n);
        return a;
    }

    @Test
    void batchNormBackwardOverwritesInputAndResidualGradients() {
        // hw 64: groups of 16 channels; hw 300: one channel per group, with 13 channels
        for (int[] shape : new int[][]{{5, 32, 64}, {3, 13, 300}}) {
            int n = shape[0], c = shape[1], hw = shape[2], size = n * c * hw;
            Storage x = random(size), w = random(c), b = random(c), res = random(size), g = random(size);
            Storage y = BE.allocate(4L * size), mean = BE.allocate(4L * c), rstd = BE.allocate(4L * c);
            var k = new CpuNormalization(BE.parallel());
            k.batchNormTrain(x, w, b, y, mean, rstd, null, null, n, c, hw, 1e-5f, 0.1f, res, true);
            Storage giAdd = filled(size, 0f), grAdd = filled(size, 0f), giNew = filled(size, Float.NaN), grNew = filled(size, Float.NaN);
            k.batchNormBackward(g, x, w, mean, rstd, giAdd, null, null, n, c, hw, true, y, grAdd, false, false);
            k.batchNormBackward(g, x, w, mean, rstd, giNew, null, null, n, c, hw, true, y, grNew, true, true);
            assertArrayEquals(read(giAdd, size), read(giNew, size), "gradIn " + n + "×" + c + "×" + hw);
            assertArrayEquals(read(grAdd, size), read(grNew, size), "gradResidual " + n + "×" + c + "×" + hw);
        }
    }

    @Test
    void directConvBackwardOverwritesOrAddsToTheInputGradient() {
        // widths 6 and 27: rows copied by arraycopy alone, and by a whole vector then arraycopy (16 + 11 at 512 bits)
        for (int w : new int[]{6, 27}) {
            int n = 3, c = 5, h = 7, o = 4, size = n * c * h * w;
            Storage x = random(n * c * h * w), wt = random(o * c * 9), g = random(n * o * h * w);
            Storage add = filled(size, 1f), fresh = filled(size, Float.NaN);
            var k = new CpuConvolution(BE.parallel());
            k.conv2dBackward(g, x, wt, add, false, null, n, c, h, w, o, 3, 3, 1);
            k.conv2dBackward(g, x, wt, fresh, true, null, n, c, h, w, o, 3, 3, 1);
            float[] added = read(add, size), written = read(fresh, size);
            for (int i = 0; i < size; i++)
                assertEquals(written[i] + 1f, added[i], 1e-5f * (1 + Math.abs(written[i])), "width " + w + ", element " + i);
        }
    }

    @Test
    void activationBackwardOverwritesOrAddsToTheInputGradient() {
        // 16-lane vectors and a scalar tail; several blocks of the staged loop
        for (int size : new int[]{37, 5000}) {
            Storage x = random(size), g = random(size);
            var k = new CpuElementwise(BE.parallel(), new CpuReductions(BE.parallel()));
            for (var fn : dma.engine.kernels.Elementwise.Activation.values()) {
                Storage add = filled(size, 0f), fresh = filled(size, Float.NaN);
                k.activationBackward(fn, x, g, add, size, true);
                k.activationBackward(fn, x, g, fresh, size, false);
                assertArrayEquals(read(add, size), read(fresh, size), fn + " " + size);
            }
        }
    }

    /** GELU'(x)·g against the float64 derivative Φ(x) + x·φ(x), over [−10, 10] (the erf clamp and e^(−x²/2)'s underflow included). */
    @Test
    void geluBackwardMatchesDoubleDerivative() {
        int size = 4001;
        Storage x = BE.allocate(4L * size), g = filled(size, 1f), gi = filled(size, Float.NaN);
        for (int i = 0; i < size; i++) CpuBackend.f(x).put(i, -10f + 20f * i / (size - 1));
        new CpuElementwise(BE.parallel(), new CpuReductions(BE.parallel())).activationBackward(
                dma.engine.kernels.Elementwise.Activation.GELU, x, g, gi, size, false);
        float[] xs = read(x, size), d = read(gi, size);
        for (int i = 0; i < size; i++) {
            double v = xs[i], ref = 0.5 * (1 + erf(v / Math.sqrt(2))) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
            assertEquals(ref, d[i], 2e-6, "GELU'(" + v + ")");
        }
    }

    /** erf in double (Abramowitz–Stegun 7.1.26 is too coarse): by its series below 3, by its continued fraction above. */
    private static double erf(double x) {
        double a = Math.abs(x), r;
        if (a < 3) {
            double term = a, sum = a;
            for (int n = 1; n < 100; n++) {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (a + f);
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
        }
        return Math.copySign(r, x);
    }

    /** Multi-head attention's backward written into NaNs equals it added into zeros, bit for bit, at an odd shape. */
    @Test
    void multiHeadBackwardOverwritesOrAddsToTheQkvGradient() {
        int b = 3, t = 17, heads = 3, d = 12, n = b * t * 3 * heads * d, on = b * t * heads * d;
        Storage qkv = random(n), g = random(on), out = BE.allocate(4L * on), probs = BE.allocate(4L * b * heads * t * t);
        var k = new CpuAttention(BE.parallel());
        k.multiHead(qkv, out, probs, b, t, heads, d, 0.3f);
        Storage add = filled(n, 0f), fresh = filled(n, Float.NaN);
        k.multiHeadBackward(qkv, probs, g, add, true, b, t, heads, d, 0.3f);
        k.multiHeadBackward(qkv, probs, g, fresh, false, b, t, heads, d, 0.3f);
        assertArrayEquals(read(add, n), read(fresh, n));
    }
}
