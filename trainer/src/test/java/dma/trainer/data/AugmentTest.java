package dma.trainer.data;

import dma.engine.Rng;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AugmentTest {
    private static final float[][] IDENTITY = Augment.normalizer(new float[]{0}, new float[]{1f / 255}); // byte v → v

    @Test
    void betaSamplesHaveTheRightMomentsAboveAndBelowAlphaOne() {
        for (double a : new double[]{0.2, 0.8, 1.0, 3.0}) {
            Rng rng = new Rng(42);
            int n = 20000;
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++) {
                double x = Augment.beta(a, rng);
                assertTrue(x >= 0 && x <= 1, "draw " + x);
                sum += x;
                sq += x * x;
            }
            double mean = sum / n, var = sq / n - mean * mean, expected = 1 / (4 * (2 * a + 1));
            assertEquals(0.5, mean, 0.01, "mean for alpha " + a);
            assertEquals(expected, var, 0.08 * expected, "variance for alpha " + a);
        }
        assertEquals(Augment.beta(0.8, new Rng(5)), Augment.beta(0.8, new Rng(5)));
        assertTrue(Double.isFinite(Augment.beta(0.001, new Rng(1))));
    }

    @Test
    void normalizationUsesTheGivenMeanAndStdPerChannel() {
        float[] mean = {0.5f, 0.25f}, std = {0.5f, 2f};
        byte[] img = {0, (byte) 255, 51, (byte) 204};
        float[] out = new float[4];
        Augment.normalize(img, 0, 1, 2, Augment.normalizer(mean, std), out, 0);
        assertArrayEquals(new float[]{-1f, 1f, (0.2f - 0.25f) / 2, (0.8f - 0.25f) / 2}, out, 1e-6f);
    }

    @Test
    void cropWithPaddingAndFlipIsAShiftedMirroredCopyWithZeroBorder() {
        int h = 4, w = 5, p = 2;
        byte[] img = new byte[h * w];
        for (int i = 0; i < img.length; i++) img[i] = (byte) (i + 1); // nonzero: 0 marks padding
        Augment aug = new Augment(p, true, 0, 0, 0.5f, 1, 0);
        Set<String> seen = new HashSet<>();
        float[] out = new float[h * w];
        for (int trial = 0; trial < 1500; trial++) {
            aug.image(img, 0, h, w, IDENTITY, new Rng(trial), out, 0);
            String match = null;
            for (int dy = -p; dy <= p && match == null; dy++)
                for (int dx = -p; dx <= p && match == null; dx++)
                    for (int m = 0; m < 2 && match == null; m++) {
                        boolean ok = true;
                        for (int y = 0; y < h && ok; y++)
                            for (int x = 0; x < w && ok; x++) {
                                int sy = y + dy, sx = (m == 1 ? w - 1 - x : x) + dx;
                                int expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? img[sy * w + sx] : 0;
                                ok = Math.abs(out[y * w + x] - expected) < 1e-3;
                            }
                        if (ok) match = dy + "," + dx + "," + m;
                    }
            assertTrue(match != null, "trial " + trial + " is no crop/flip of the input");
            seen.add(match);
        }
        assertEquals((2 * p + 1) * (2 * p + 1) * 2, seen.size(), "every offset and both flips occur");
    }

    @Test
    void randomErasingFillsOneBoxWithNoise() {
        int c = 2, h = 10, w = 12;
        byte[] img = new byte[c * h * w];
        java.util.Arrays.fill(img, (byte) 100);
        Augment aug = new Augment(0, false, 0, 0, 0.5f, 1, 1);
        double sum = 0, sq = 0;
        int erased = 0, noisy = 0;
        float[][] lut = Augment.normalizer(new float[]{0, 0}, new float[]{1, 1});
        float plain = lut[0][100];
        for (int trial = 0; trial < 200; trial++) {
            float[] out = new float[c * h * w];
            aug.image(img, 0, h, w, lut, new Rng(trial), out, 0);
            int yl = h, yh = -1, xl = w, xh = -1, count = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if (out[y * w + x] != plain) {
                        yl = Math.min(yl, y); yh = Math.max(yh, y); xl = Math.min(xl, x); xh = Math.max(xh, x);
                        count++;
                    }
            if (count == 0) continue;
            erased++;
            assertEquals((yh - yl + 1) * (xh - xl + 1), count, "a rectangle");
            assertTrue(count < h * w, "never the whole image");
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        float v = out[ch * h * w + y * w + x];
                        boolean inside = y >= yl && y <= yh && x >= xl && x <= xh;
                        assertEquals(inside, v != plain, "same box on every channel");
                        if (inside) { sum += v; sq += v * v; noisy++; }
                    }
        }
        assertTrue(erased > 150, erased + " of 200 erased");
        // per-pixel standard normal noise: mean near 0, variance near 1 over thousands of pixels
        assertEquals(0, sum / noisy, 0.05);
        assertEquals(1, sq / noisy, 0.1);
    }

    /** n images of 1×h×w, image i filled with the value i + 1, label i. */
    private static float[] constantImages(int n, int h, int w) {
        float[] x = new float[n * h * w];
        for (int i = 0; i < n; i++) java.util.Arrays.fill(x, i * h * w, (i + 1) * h * w, i + 1);
        return x;
    }

    @Test
    void mixupBlendsEachImageWithItsMirrorAndTargetsCarryLam() {
        int n = 6, h = 3, w = 3, m = h * w;
        int[] labels = {0, 1, 2, 3, 4, 5};
        Augment aug = new Augment(0, false, 0.8f, 0, 0.5f, 1, 0);
        for (int seed = 0; seed < 30; seed++) {
            float[] x = constantImages(n, h, w), t = new float[n * n];
            float lam = aug.mix(x, labels, n, 1, h, w, n, new Rng(seed), t);
            assertTrue(lam > 0 && lam < 1, "lam " + lam);
            for (int i = 0; i < n; i++) {
                int j = n - 1 - i;
                float sum = 0;
                int nonzero = 0;
                for (int k = 0; k < n; k++) {
                    sum += t[i * n + k];
                    if (t[i * n + k] != 0) nonzero++;
                }
                assertEquals(1f, sum, 1e-6f);
                assertEquals(2, nonzero, "exactly two classes");
                assertEquals(lam, t[i * n + i], 1e-6f);
                assertEquals(1 - lam, t[i * n + j], 1e-6f);
                for (int p = 0; p < m; p++) assertEquals(lam * (i + 1) + (1 - lam) * (j + 1), x[i * m + p], 1e-5f);
            }
        }
    }

    @Test
    void cutmixPastesTheMirrorsBoxAndCorrectsLamByArea() {
        int n = 4, h = 8, w = 8, m = h * w;
        int[] labels = {0, 1, 2, 3};
        Augment aug = new Augment(0, false, 0, 1.0f, 0.5f, 1, 0);
        int boxes = 0;
        for (int seed = 0; seed < 40; seed++) {
            float[] x = constantImages(n, h, w), t = new float[n * n];
            float lam = aug.mix(x, labels, n, 1, h, w, n, new Rng(seed), t);
            int[] box = null;
            for (int i = 0; i < n; i++) {
                int j = n - 1 - i, yl = h, yh = 0, xl = w, xh = 0, pasted = 0;
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) {
                        float v = x[i * m + y * w + xx];
                        assertTrue(v == i + 1 || v == j + 1, "own or partner pixel");
                        if (v == j + 1) {
                            pasted++;
                            yl = Math.min(yl, y); yh = Math.max(yh, y + 1); xl = Math.min(xl, xx); xh = Math.max(xh, xx + 1);
                        }
                    }
                if (pasted > 0) assertEquals((yh - yl) * (xh - xl), pasted, "the pasted pixels form a box");
                int[] b = pasted == 0 ? new int[4] : new int[]{yl, yh, xl, xh};
                if (box == null) box = b;
                assertArrayEquals(box, b, "one box for the whole batch");
                assertEquals(1 - (double) pasted / m, lam, 1e-6, "area-corrected lam");
                assertEquals(lam, t[i * n + i], 1e-6f);
                assertEquals(pasted == 0 ? 0 : 1 - lam, t[i * n + j], 1e-6f);
                if (pasted > 0 && i == 0) boxes++;
            }
        }
        assertTrue(boxes > 20, boxes + " batches with a box");
    }

    @Test
    void switchAndMixProbabilitiesChooseTheOperation() {
        int n = 4, h = 6, w = 6;
        int[] labels = {0, 1, 2, 3};
        for (int seed = 0; seed < 20; seed++) {
            float[] x = constantImages(n, h, w), t = new float[n * n];
            new Augment(0, false, 0.8f, 1f, 1f, 1, 0).mix(x, labels, n, 1, h, w, n, new Rng(seed), t);
            for (int i = 0; i < n * h * w; i++) assertTrue(x[i] == Math.rint(x[i]), "switchProb 1: always cutmix");
            x = constantImages(n, h, w);
            float lam = new Augment(0, false, 0.8f, 1f, 0f, 1, 0).mix(x, labels, n, 1, h, w, n, new Rng(seed), t);
            assertEquals(lam * 1 + (1 - lam) * 4, x[0], 1e-5f, "switchProb 0: always mixup");
            x = constantImages(n, h, w);
            assertEquals(1f, new Augment(0, false, 0.8f, 1f, 0.5f, 0, 0).mix(x, labels, n, 1, h, w, n, new Rng(seed), t));
            assertArrayEquals(constantImages(n, h, w), x, "mixProb 0: unchanged");
            assertArrayEquals(new float[]{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, t);
        }
    }
}
