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
}
