package dma.trainer.data;

import dma.engine.CounterRng;
import dma.engine.Rng;

/**
 * Training augmentation settings, and the operations, in timm's order: per image RandomCrop(size, padCrop)
 * with zero padding, horizontal flip (p 0.5), ToTensor + Normalize, RandomErasing (mode 'pixel', scale
 * (0.02, 1/3), ratio (0.3, 3.3), one box); then per batch Mixup / CutMix (timm's {@code Mixup}, mode 'batch':
 * image i is mixed with image n−1−i). Label smoothing is left to the loss.
 *
 * @param switchProb when both mixup and cutmix are on, the probability of cutmix for a batch
 * @param mixProb    the probability that a batch is mixed at all
 */
public record Augment(int padCrop, boolean flip, float mixupAlpha, float cutmixAlpha, float switchProb, float mixProb, float eraseProb) {
    private static final double ERASE_MIN_AREA = 0.02, ERASE_MAX_AREA = 1.0 / 3;
    private static final double ERASE_LOG_RATIO_MIN = Math.log(0.3), ERASE_LOG_RATIO_MAX = Math.log(3.3);

    public Augment {
        if (padCrop < 0 || mixupAlpha < 0 || cutmixAlpha < 0 || !isProbability(switchProb) || !isProbability(mixProb) || !isProbability(eraseProb))
            throw new IllegalArgumentException("augmentation: padCrop " + padCrop + ", mixupAlpha " + mixupAlpha + " and cutmixAlpha " + cutmixAlpha
                    + " must be ≥ 0; switchProb " + switchProb + ", mixProb " + mixProb + " and eraseProb " + eraseProb + " must be in [0, 1]");
    }

    private static boolean isProbability(float p) { return p >= 0 && p <= 1; }

    /** No augmentation: normalization only. */
    public static Augment none() {
        return new Augment(0, false, 0, 0, 0.5f, 1, 0);
    }

    /** The DeiT recipe of §6.2 for small images: crop with padding (4 on 32²; 0 for none) + flip, mixup 0.8, cutmix 1.0, switch 0.5, erasing 0.25. */
    public static Augment deit(int padCrop) {
        return new Augment(padCrop, true, 0.8f, 1.0f, 0.5f, 1, 0.25f);
    }

    public boolean mixes() {
        return mixProb > 0 && (mixupAlpha > 0 || cutmixAlpha > 0);
    }

    /** Lookup tables byte → normalized value, (v/255 − mean[c]) / std[c], one per channel. */
    public static float[][] normalizer(float[] mean, float[] std) {
        if (mean.length != std.length) throw new IllegalArgumentException(mean.length + " means but " + std.length + " standard deviations");
        float[][] lut = new float[mean.length][256];
        for (int c = 0; c < mean.length; c++) {
            if (!(std[c] > 0)) throw new IllegalArgumentException("std[" + c + "] = " + std[c] + " must be positive");
            for (int v = 0; v < 256; v++) lut[c][v] = (v / 255f - mean[c]) / std[c];
        }
        return lut;
    }

    /** Normalizes one [c, h, w] image from {@code src[srcOff..]} into {@code dst[dstOff..]} without augmenting it. */
    public static void normalize(byte[] src, int srcOff, int h, int w, float[][] lut, float[] dst, int dstOff) {
        place(src, srcOff, h, w, 0, 0, false, lut, dst, dstOff);
    }

    /** Crops, flips, normalizes and erases one [c, h, w] image, drawing from {@code rng}. */
    public void image(byte[] src, int srcOff, int h, int w, float[][] lut, Rng rng, float[] dst, int dstOff) {
        int dy = 0, dx = 0;
        if (padCrop > 0) {
            dy = rng.nextInt(2 * padCrop + 1) - padCrop;
            dx = rng.nextInt(2 * padCrop + 1) - padCrop;
        }
        boolean mirror = flip && rng.nextFloat() < 0.5f;
        place(src, srcOff, h, w, dy, dx, mirror, lut, dst, dstOff);
        if (eraseProb > 0 && rng.nextFloat() < eraseProb) erase(lut.length, h, w, rng, dst, dstOff);
    }

    /** out[c, y, x] = in[c, y + dy, x' + dx] with x' = w−1−x when mirrored, 0 outside the image: crop-with-padding then flip. */
    private static void place(byte[] src, int srcOff, int h, int w, int dy, int dx, boolean mirror, float[][] lut, float[] dst, int dstOff) {
        for (int c = 0, o = dstOff; c < lut.length; c++) {
            float[] t = lut[c];
            int plane = srcOff + c * h * w;
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                for (int x = 0; x < w; x++, o++) {
                    int sx = (mirror ? w - 1 - x : x) + dx;
                    dst[o] = sy >= 0 && sy < h && sx >= 0 && sx < w ? t[src[plane + sy * w + sx] & 0xFF] : t[0];
                }
            }
        }
    }

    /** timm's RandomErasing, mode 'pixel', one box: up to 10 tries at a box that fits, filled with standard normal noise. */
    private static void erase(int channels, int h, int w, Rng rng, float[] dst, int dstOff) {
        for (int attempt = 0; attempt < 10; attempt++) {
            double area = uniform(rng, ERASE_MIN_AREA, ERASE_MAX_AREA) * h * w;
            double ratio = Math.exp(uniform(rng, ERASE_LOG_RATIO_MIN, ERASE_LOG_RATIO_MAX));
            int eh = (int) Math.rint(Math.sqrt(area * ratio)), ew = (int) Math.rint(Math.sqrt(area / ratio)); // Python's round: halves to even
            if (ew < w && eh < h) {
                int top = rng.nextInt(h - eh + 1), left = rng.nextInt(w - ew + 1);
                long noise = rng.nextSeed();
                for (int c = 0, k = 0; c < channels; c++)
                    for (int y = top; y < top + eh; y++)
                        for (int x = left; x < left + ew; x++)
                            dst[dstOff + (c * h + y) * w + x] = (float) CounterRng.normal(noise, k++);
                return;
            }
        }
    }

    /**
     * Mixes a batch of n normalized [c, h, w] images in place (mixup or cutmix with the flipped batch, or
     * nothing) and writes the soft targets [n, classes]: lam·onehot(y_i) + (1−lam)·onehot(y_{n−1−i}).
     *
     * @return lam (1 when the batch is not mixed; for cutmix the area-corrected value)
     */
    public float mix(float[] images, int[] labels, int n, int channels, int h, int w, int classes, Rng rng, float[] targets) {
        double lam = 1;
        boolean cut = false;
        if (mixes() && rng.nextFloat() < mixProb) {
            if (mixupAlpha > 0 && cutmixAlpha > 0) cut = rng.nextFloat() < switchProb;
            else cut = cutmixAlpha > 0;
            lam = beta(cut ? cutmixAlpha : mixupAlpha, rng);
        }
        int m = channels * h * w;
        if (lam != 1 && cut) {
            double ratio = Math.sqrt(1 - lam);
            int cutH = (int) (h * ratio), cutW = (int) (w * ratio);
            int cy = rng.nextInt(h), cx = rng.nextInt(w);
            int yl = clamp(cy - cutH / 2, h), yh = clamp(cy + cutH / 2, h), xl = clamp(cx - cutW / 2, w), xh = clamp(cx + cutW / 2, w);
            lam = 1 - (double) (yh - yl) * (xh - xl) / (h * w);
            for (int i = 0, j = n - 1; i < j; i++, j--)
                for (int c = 0; c < channels; c++)
                    for (int y = yl; y < yh; y++)
                        for (int x = xl; x < xh; x++) {
                            int p = c * h * w + y * w + x;
                            float t = images[i * m + p];
                            images[i * m + p] = images[j * m + p];
                            images[j * m + p] = t;
                        }
        } else if (lam != 1) {
            float a = (float) lam, b = (float) (1 - lam);
            for (int i = 0, j = n - 1; i < j; i++, j--)
                for (int p = 0; p < m; p++) {
                    float u = images[i * m + p], v = images[j * m + p];
                    images[i * m + p] = u * a + v * b;
                    images[j * m + p] = v * a + u * b;
                }
        }
        java.util.Arrays.fill(targets, 0, n * classes, 0f);
        for (int i = 0; i < n; i++) {
            targets[i * classes + labels[i]] += (float) lam;
            targets[i * classes + labels[n - 1 - i]] += (float) (1 - lam);
        }
        return (float) lam;
    }

    private static int clamp(int v, int hi) {
        return Math.max(0, Math.min(hi, v));
    }

    /** A Beta(a, a) draw as X / (X + Y) of two Gamma(a) draws, computed from their logarithms so tiny alphas do not give 0/0. */
    static double beta(double a, Rng rng) {
        double lx = logGamma(a, rng), ly = logGamma(a, rng);
        return 1 / (1 + Math.exp(ly - lx));
    }

    /** log of a Gamma(a, 1) draw: Marsaglia–Tsang, with Gamma(a) = Gamma(a+1)·U^(1/a) for a < 1. */
    static double logGamma(double a, Rng rng) {
        if (!(a > 0)) throw new IllegalArgumentException("gamma shape " + a + " must be positive");
        if (a < 1) return logGamma(a + 1, rng) + Math.log(uniform(rng)) / a;
        double d = a - 1.0 / 3, c = 1 / Math.sqrt(9 * d);
        while (true) {
            double x = CounterRng.normal(rng.nextSeed(), 0), v = 1 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            if (Math.log(uniform(rng)) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d) + Math.log(v);
        }
    }

    /** Uniform in the open interval (0, 1) with 53 bits. */
    private static double uniform(Rng rng) {
        return ((rng.nextSeed() >>> 11) + 0.5) * 0x1.0p-53;
    }

    private static double uniform(Rng rng, double lo, double hi) {
        return lo + (hi - lo) * uniform(rng);
    }
}
