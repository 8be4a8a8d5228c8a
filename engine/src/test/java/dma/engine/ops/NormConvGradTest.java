package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.GradMode;
import dma.engine.MemoryStats;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.function.Function;

import static dma.engine.ops.TestTensors.input;
import static dma.engine.ops.TestTensors.param;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static dma.engine.ops.OpChecks.assertClose;
import static dma.engine.ops.OpChecks.outputAndGradients;
import static dma.engine.ops.OpChecks.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Float64 finite-difference checks of LayerNorm, BatchNorm2d, conv2d and global average pooling, plus
 * references computed in double on the host (forward and backward) and the running-statistics semantics.
 */
class NormConvGradTest extends EveryBackend {
    private final GradCheck check = GradCheck.standard();

    // ---------------------------------------------------------------- LayerNorm

    @Test
    void layerNormGradients() {
        Tensor x = param(be, 5, 7), w = param(be, 7), b = param(be, 7);
        check.check("layerNorm [5, 7]", t -> NormalizationOps.layerNorm(t[0], t[1], t[2], 1e-5f), x, w, b);
        Tensor x3 = param(be, 2, 3, 11), w3 = param(be, 11), b3 = param(be, 11);
        check.check("layerNorm [2, 3, 11]", t -> NormalizationOps.layerNorm(t[0], t[1], t[2], 1e-6f), x3, w3, b3);
    }

    @Test
    void layerNormWithFrozenWeight() {
        Tensor x = param(be, 5, 7), w = input(be, 7), b = param(be, 7);
        check.check("layerNorm frozen weight", t -> NormalizationOps.layerNorm(t[0], t[1], t[2], 1e-5f), x, w, b);
        try (Scope s = Scope.open()) {
            NormalizationOps.layerNorm(x, w, b, 1e-5f).sumAll().backward();
            assertNull(w.grad(), "a frozen weight gets no gradient");
            assertTrue(x.grad() != null && b.grad() != null);
        } finally {
            x.zeroGrad();
            b.zeroGrad();
        }
    }

    @Test
    void layerNormForwardMatchesDoubleReference() {
        int rows = 6, cols = 9;
        float eps = 1e-6f;
        Tensor x = input(be, rows, cols), w = input(be, cols), b = input(be, cols);
        float[] xv = x.toFloats(), wv = w.toFloats(), bv = b.toFloats();
        try (Scope s = Scope.open()) {
            float[] y = NormalizationOps.layerNorm(x, w, b, eps).toFloats();
            for (int r = 0; r < rows; r++) {
                double mu = 0, var = 0;
                for (int j = 0; j < cols; j++) mu += xv[r * cols + j];
                mu /= cols;
                for (int j = 0; j < cols; j++) var += Math.pow(xv[r * cols + j] - mu, 2);
                var /= cols;
                for (int j = 0; j < cols; j++) {
                    double ref = (xv[r * cols + j] - mu) / Math.sqrt(var + eps) * wv[j] + bv[j];
                    assertEquals(ref, y[r * cols + j], 1e-5 * (1 + Math.abs(ref)), "row " + r + " col " + j);
                }
            }
        }
    }

    /** The fused op against (x − mean)/√(var + eps)·w + b built from the generic ops: outputs and all gradients. */
    @Test
    void layerNormMatchesComposedForm() {
        // [40, 20, 96] has enough rows to split the backward's partial sums across threads; [13, 17, 64] and
        // [3, 50, 48] are the ViT study's widths (whole vectors, several staged blocks of rows per chunk)
        for (int[] shape : new int[][]{{5, 7}, {3, 4, 33}, {40, 20, 96}, {13, 17, 64}, {3, 50, 48}}) {
            int cols = shape[shape.length - 1];
            float eps = 1e-6f;
            Tensor x = param(be, shape), w = param(be, cols), b = param(be, cols);
            Function<Tensor[], Tensor> composed = t -> {
                Tensor in = t[0];
                int last = in.rank() - 1;
                int[] keep = in.shape();
                keep[last] = 1;
                Tensor xc = in.sub(in.mean(last).reshape(keep));
                Tensor var = xc.mul(xc).mean(last).reshape(keep);
                Tensor std = sqrt(var.add(Tensor.full(be, eps, 1)));
                return xc.div(std).mul(t[1]).add(t[2]);
            };
            float[][] fused = outputAndGradients(t -> NormalizationOps.layerNorm(t[0], t[1], t[2], eps), x, w, b);
            float[][] ref = outputAndGradients(composed, x, w, b);
            String[] what = {"output", "dx", "dweight", "dbias"};
            for (int i = 0; i < what.length; i++) {
                double err = relativeError(fused[i], ref[i]);
                assertTrue(err < 1e-5, "layerNorm " + Arrays.toString(shape) + " " + what[i] + ": relative error " + err);
            }
        }
    }

    // ---------------------------------------------------------------- BatchNorm2d

    @Test
    void batchNormTrainingGradients() {
        Tensor x = param(be, 3, 4, 5, 3), w = param(be, 4), b = param(be, 4);
        // every forward of the check (dozens of them) updates these in place; the gradient does not depend on
        // them, so they may drift here, and they are this test's own so no other test sees the drift
        Tensor rm = zeros(4), rv = ones(4);
        check.check("batchNorm2d train", t -> NormalizationOps.batchNorm2d(t[0], t[1], t[2], rm, rv, true, 0.1f, 1e-5f), x, w, b);
        Tensor x2 = param(be, 2, 3, 1, 7), w2 = input(be, 3), b2 = param(be, 3);
        check.check("batchNorm2d train frozen weight, no tracking",
                t -> NormalizationOps.batchNorm2d(t[0], t[1], t[2], null, null, true, 0.1f, 1e-5f), x2, w2, b2);
    }

    /** Training-mode BatchNorm against its composed form (batch mean, biased variance): output and all gradients. */
    @Test
    void batchNormTrainingMatchesComposedForm() {
        // [4, 16, 32, 32] spreads the channels over several threads
        for (int[] shape : new int[][]{{3, 4, 5, 3}, {4, 16, 32, 32}}) {
            int c = shape[1];
            float eps = 1e-5f;
            Tensor x = param(be, shape), w = param(be, c), b = param(be, c);
            Function<Tensor[], Tensor> composed = t -> {
                Tensor xc = t[0].sub(t[0].mean(0, 2, 3).reshape(1, c, 1, 1));
                Tensor var = xc.mul(xc).mean(0, 2, 3).reshape(1, c, 1, 1);
                Tensor std = sqrt(var.add(Tensor.full(be, eps, 1)));
                return xc.div(std).mul(t[1].reshape(1, c, 1, 1)).add(t[2].reshape(1, c, 1, 1));
            };
            float[][] fused = outputAndGradients(t -> NormalizationOps.batchNorm2d(t[0], t[1], t[2], null, null, true, 0.1f, eps), x, w, b);
            float[][] ref = outputAndGradients(composed, x, w, b);
            String[] what = {"output", "dx", "dweight", "dbias"};
            for (int i = 0; i < what.length; i++) {
                double err = relativeError(fused[i], ref[i]);
                assertTrue(err < 1e-5, "batchNorm2d " + Arrays.toString(shape) + " " + what[i] + ": relative error " + err);
            }
        }
    }

    /**
     * The fused epilogue relu(bn(x) + residual) against BatchNorm, add and ReLU run one after another: output and the
     * gradients of x, weight, bias and the residual, in both modes, with and without each part. [4, 16, 32, 32]
     * spreads the channels over several threads.
     */
    @Test
    void batchNormFusedResidualReluMatchesComposedOps() {
        for (int[] shape : new int[][]{{3, 4, 5, 3}, {4, 16, 32, 32}})
            for (boolean training : new boolean[]{true, false})
                for (int variant = 0; variant < 3; variant++) {
                    boolean withResidual = variant != 1, relu = variant != 2;
                    int c = shape[1];
                    float[] var = new float[c];
                    Arrays.fill(var, 1.5f);
                    Tensor rm = persistent(new float[c]), rv = persistent(var); // momentum 0: both forms see the same statistics
                    Tensor x = param(be, shape), w = param(be, c), b = param(be, c);
                    Tensor[] inputs = withResidual ? new Tensor[]{x, w, b, param(be, shape)} : new Tensor[]{x, w, b};
                    Function<Tensor[], Tensor> fused = t -> NormalizationOps.batchNorm2d(t[0], t[1], t[2], rm, rv, training, 0f, 1e-5f,
                            withResidual ? t[3] : null, relu);
                    Function<Tensor[], Tensor> composed = t -> {
                        Tensor y = NormalizationOps.batchNorm2d(t[0], t[1], t[2], rm, rv, training, 0f, 1e-5f);
                        if (withResidual) y = y.add(t[3]);
                        return relu ? ElementwiseOps.relu(y) : y;
                    };
                    float[][] got = outputAndGradients(fused, inputs), want = outputAndGradients(composed, inputs);
                    String[] what = {"output", "dx", "dweight", "dbias", "dresidual"};
                    String name = "batchNorm2d " + Arrays.toString(shape) + (training ? " train" : " eval")
                            + (withResidual ? " +residual" : "") + (relu ? " relu" : "");
                    for (int i = 0; i < got.length; i++) {
                        double err = relativeError(got[i], want[i]);
                        assertTrue(err < 1e-6, name + " " + what[i] + ": relative error " + err);
                    }
                }
    }

    @Test
    void batchNormFusedResidualMustMatchTheInputShape() {
        Tensor x = param(be, 2, 3, 4, 4), w = param(be, 3), b = param(be, 3), r = param(be, 2, 3, 4, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> NormalizationOps.batchNorm2d(x, w, b, null, null, true, 0.1f, 1e-5f, r, true));
        assertTrue(e.getMessage().contains("residual [2, 3, 4, 2]") && e.getMessage().contains("[2, 3, 4, 4]"), e.getMessage());
    }

    @Test
    void batchNormEvalGradients() {
        Tensor x = param(be, 3, 4, 5, 3), w = param(be, 4), b = param(be, 4);
        Tensor rm = persistent(new float[]{0.3f, -0.2f, 0.1f, 0f}), rv = persistent(new float[]{0.5f, 1.5f, 0.8f, 2f});
        check.check("batchNorm2d eval", t -> NormalizationOps.batchNorm2d(t[0], t[1], t[2], rm, rv, false, 0.1f, 1e-5f), x, w, b);
        assertArrayEquals(new float[]{0.3f, -0.2f, 0.1f, 0f}, rm.toFloats(), "eval mode leaves the running mean alone");
        assertArrayEquals(new float[]{0.5f, 1.5f, 0.8f, 2f}, rv.toFloats(), "eval mode leaves the running variance alone");
    }

    @Test
    void batchNormForwardMatchesDoubleReference() {
        int n = 3, c = 4, hw = 15;
        float eps = 1e-5f;
        Tensor x = input(be, n, c, 5, 3), w = input(be, c), b = input(be, c);
        float[] rmv = {0.3f, -0.2f, 0.1f, 0f}, rvv = {0.5f, 1.5f, 0.8f, 2f};
        Tensor rm = persistent(rmv), rv = persistent(rvv);
        float[] xv = x.toFloats(), wv = w.toFloats(), bv = b.toFloats();
        try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            float[] train = NormalizationOps.batchNorm2d(x, w, b, null, null, true, 0.1f, eps).toFloats();
            float[] eval = NormalizationOps.batchNorm2d(x, w, b, rm, rv, false, 0.1f, eps).toFloats();
            double[][] stats = channelStats(xv, n, c, hw);
            for (int img = 0; img < n; img++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < hw; i++) {
                        int at = (img * c + ch) * hw + i;
                        double refTrain = (xv[at] - stats[0][ch]) / Math.sqrt(stats[1][ch] + eps) * wv[ch] + bv[ch];
                        double refEval = (xv[at] - rmv[ch]) / Math.sqrt(rvv[ch] + eps) * wv[ch] + bv[ch];
                        assertEquals(refTrain, train[at], 1e-5 * (1 + Math.abs(refTrain)), "train, element " + at);
                        assertEquals(refEval, eval[at], 1e-5 * (1 + Math.abs(refEval)), "eval, element " + at);
                    }
        }
    }

    /** PyTorch: r = (1 − m)·r + m·batch mean, v = (1 − m)·v + m·unbiased batch variance (count/(count − 1)). */
    @Test
    void batchNormTrainingUpdatesRunningStatistics() {
        int n = 3, c = 4, hw = 15;
        float m = 0.1f;
        Tensor x = param(be, n, c, 5, 3), w = param(be, c), b = param(be, c);
        float[] r0 = {0.5f, -1f, 0.25f, 2f}, v0 = {1f, 0.5f, 3f, 0.2f};
        Tensor rm = persistent(r0), rv = persistent(v0);
        double[][] stats = channelStats(x.toFloats(), n, c, hw);
        try (Scope s = Scope.open()) {
            NormalizationOps.batchNorm2d(x, w, b, rm, rv, true, m, 1e-5f).sumAll().backward();
            assertNull(rm.grad(), "running statistics are not part of autograd");
            assertNull(rv.grad(), "running statistics are not part of autograd");
        } finally {
            x.zeroGrad();
            w.zeroGrad();
            b.zeroGrad();
        }
        float[] rmNow = rm.toFloats(), rvNow = rv.toFloats();
        int count = n * hw;
        for (int ch = 0; ch < c; ch++) {
            double mean = (1 - m) * r0[ch] + m * stats[0][ch];
            double var = (1 - m) * v0[ch] + m * stats[1][ch] * count / (count - 1);
            assertEquals(mean, rmNow[ch], 1e-6, "running mean of channel " + ch);
            assertEquals(var, rvNow[ch], 1e-6, "running variance of channel " + ch + " (unbiased batch variance)");
        }
        // a forward without the tape still trains the running statistics (as PyTorch in train mode under no_grad)
        try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            NormalizationOps.batchNorm2d(x, w, b, rm, rv, true, m, 1e-5f);
        }
        assertEquals((1 - m) * rmNow[0] + m * stats[0][0], rm.toFloats()[0], 1e-6);
    }

    /** Eval-mode backward uses the statistics its forward normalized with, even if they are updated in between. */
    @Test
    void batchNormEvalBackwardUsesItsForwardStatistics() {
        Tensor x = param(be, 2, 3, 4, 4), w = param(be, 3), b = param(be, 3);
        Tensor rm = persistent(new float[]{0.1f, 0.2f, -0.3f}), rv = persistent(new float[]{0.7f, 1.2f, 0.4f});
        float[] expected;
        try (Scope s = Scope.open()) {
            NormalizationOps.batchNorm2d(x, w, b, rm, rv, false, 0.1f, 1e-5f).mul(Tensor.uniform(be, 3, -1f, 1f, 2, 3, 4, 4)).sumAll().backward();
            expected = x.grad().toFloats();
        }
        x.zeroGrad();
        w.zeroGrad();
        b.zeroGrad();
        try (Scope s = Scope.open()) {
            Tensor loss = NormalizationOps.batchNorm2d(x, w, b, rm, rv, false, 0.1f, 1e-5f).mul(Tensor.uniform(be, 3, -1f, 1f, 2, 3, 4, 4)).sumAll();
            try (GradMode off = GradMode.disabled()) {
                NormalizationOps.batchNorm2d(Tensor.uniform(be, 4, 2f, 5f, 2, 3, 4, 4), w, b, rm, rv, true, 0.5f, 1e-5f);
            }
            loss.backward();
            assertArrayEquals(expected, x.grad().toFloats());
        } finally {
            x.zeroGrad();
            w.zeroGrad();
            b.zeroGrad();
        }
    }

    @Test
    void normShapeErrorsNameOpAndShapes() {
        Tensor x = input(be, 2, 3, 4, 4), w = input(be, 5), b = input(be, 3);
        var e = assertThrows(IllegalArgumentException.class, () -> NormalizationOps.batchNorm2d(x, w, b, null, null, true, 0.1f, 1e-5f));
        assertTrue(e.getMessage().startsWith("batchNorm2d") && e.getMessage().contains("[2, 3, 4, 4]") && e.getMessage().contains("[5]"), e.getMessage());
        var l = assertThrows(IllegalArgumentException.class, () -> NormalizationOps.layerNorm(x, w, w, 1e-5f));
        assertTrue(l.getMessage().startsWith("layerNorm") && l.getMessage().contains("[2, 3, 4, 4]") && l.getMessage().contains("[5]"), l.getMessage());
        var single = assertThrows(IllegalArgumentException.class,
                () -> NormalizationOps.batchNorm2d(input(be, 1, 3, 1, 1), b, b, null, null, true, 0.1f, 1e-5f));
        assertTrue(single.getMessage().contains("more than one value"), single.getMessage());
    }

    // ---------------------------------------------------------------- conv2d

    /** n, c, h, w, o, kh, kw, stride, padding, bias (1/0). */
    private static final int[][] CONV_CONFIGS = {
            {2, 3, 6, 6, 4, 3, 3, 1, 1, 1},   // 3×3, stride 1, same padding
            {2, 2, 7, 7, 3, 3, 3, 2, 0, 1},   // stride 2, no padding
            {2, 1, 8, 8, 16, 4, 4, 4, 0, 1},  // ViT patch embedding: kernel = stride = patch 4, 16 channels
            {1, 2, 7, 5, 3, 3, 2, 2, 1, 1},   // odd 7×5 input, non-square kernel, stride 2 with padding
            {2, 2, 5, 7, 3, 2, 3, 1, 1, 1},   // odd 5×7 input, 2×3 kernel: oh and ow differ
            {2, 3, 5, 5, 2, 3, 3, 1, 1, 0},   // no bias
            {2, 4, 5, 5, 3, 1, 1, 2, 0, 0},   // 1×1 stride-2 projection (ResNet shortcut)
            {1, 2, 6, 7, 3, 5, 5, 1, 2, 1},   // 5×5 same padding on a 6×7 input: rows and columns shifted by up to 2
            {2, 3, 4, 5, 2, 1, 1, 1, 0, 1},   // 1×1 stride 1: the unshifted plane
            {3, 9, 5, 6, 13, 3, 3, 1, 0, 0},  // stride 1, no padding; channels that fill no register block (CPU direct: 8 and 4)
    };

    /** Large enough for the GEMMs and the im2col/col2im loops to split across threads (naive reference only). */
    private static final int[] CONV_LARGE = {2, 16, 16, 16, 32, 3, 3, 1, 1, 1};

    /**
     * Large enough that conv2d's im2col workspace (4 MiB on the CPU) holds fewer images than the batch: 3 chunks of one
     * image at stride 1, and at stride 2 a chunk of 7 images then a partial one of 2 (naive reference only).
     */
    private static final int[][] CONV_CHUNKED = {{3, 16, 64, 64, 8, 3, 3, 1, 1, 1}, {9, 16, 64, 64, 8, 3, 3, 2, 1, 0}};

    /**
     * Stride-1 shapes for the CPU's direct kernel and its Winograd F(4, 3) along the rows: many small images, so that
     * batches of images run whole and partial (and the backward's blocks hold several); a wide one spanning several
     * position blocks; row counts that leave a partial last group of four (3, 9, 19 rows, 1×1 images), rows narrower
     * than a vector (1 to 7 columns, whose whole-vector transforms run past the row), and a 3×3 kernel with padding 2.
     */
    private static final int[][] CONV_DIRECT = {{70, 5, 4, 4, 6, 3, 3, 1, 1, 0}, {4, 16, 8, 8, 16, 3, 3, 1, 1, 0},
            {2, 3, 19, 33, 10, 3, 3, 1, 1, 1}, {37, 3, 3, 2, 5, 3, 3, 1, 1, 0}, {23, 4, 9, 7, 9, 3, 3, 1, 1, 1},
            {5, 17, 6, 17, 8, 3, 3, 1, 2, 0}, {12, 2, 1, 1, 3, 3, 3, 1, 1, 0}};

    @Test
    void conv2dGradients() {
        for (int[] k : CONV_CONFIGS) {
            Tensor x = param(be, k[0], k[1], k[2], k[3]), w = param(be, k[4], k[1], k[5], k[6]);
            String name = "conv2d " + Arrays.toString(k);
            if (k[9] == 1) {
                Tensor b = param(be, k[4]);
                check.check(name, t -> ConvolutionOps.conv2d(t[0], t[1], t[2], k[7], k[8]), x, w, b);
            } else {
                check.check(name, t -> ConvolutionOps.conv2d(t[0], t[1], null, k[7], k[8]), x, w);
            }
        }
    }

    @Test
    void conv2dFrozenWeightOrInput() {
        Tensor x = param(be, 2, 3, 6, 5), w = input(be, 4, 3, 3, 3), b = param(be, 4);
        check.check("conv2d frozen weight", t -> ConvolutionOps.conv2d(t[0], t[1], t[2], 1, 1), x, w, b);
        Tensor xi = input(be, 2, 3, 6, 5), wp = param(be, 4, 3, 3, 3);
        check.check("conv2d fixed input", t -> ConvolutionOps.conv2d(t[0], t[1], null, 2, 1), xi, wp);
    }

    /** Forward and all three gradients against a direct convolution in double. */
    @Test
    void conv2dMatchesNaiveConvolution() {
        int[][] configs = Arrays.copyOf(CONV_CONFIGS, CONV_CONFIGS.length + 1 + CONV_CHUNKED.length + CONV_DIRECT.length);
        configs[CONV_CONFIGS.length] = CONV_LARGE;
        System.arraycopy(CONV_CHUNKED, 0, configs, CONV_CONFIGS.length + 1, CONV_CHUNKED.length);
        System.arraycopy(CONV_DIRECT, 0, configs, CONV_CONFIGS.length + 1 + CONV_CHUNKED.length, CONV_DIRECT.length);
        for (int[] k : configs) {
            int n = k[0], c = k[1], h = k[2], wd = k[3], o = k[4], kh = k[5], kw = k[6], stride = k[7], pad = k[8];
            boolean hasBias = k[9] == 1;
            int oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
            Tensor x = param(be, n, c, h, wd), w = param(be, o, c, kh, kw), b = hasBias ? param(be, o) : null;
            float[] xv = x.toFloats(), wv = w.toFloats(), bv = hasBias ? b.toFloats() : new float[o];
            float[] r = GradCheck.projection(n * o * oh * ow, 99);
            double[] y = new double[n * o * oh * ow], dx = new double[xv.length], dw = new double[wv.length], db = new double[o];
            // Σ|terms| of each sum, which bounds its float32 rounding error
            double[] ya = new double[y.length], dxa = new double[dx.length], dwa = new double[dw.length], dba = new double[o];
            for (int img = 0; img < n; img++)
                for (int oc = 0; oc < o; oc++)
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++) {
                            int at = ((img * o + oc) * oh + oy) * ow + ox;
                            double acc = bv[oc], g = r[at];
                            ya[at] = Math.abs(acc);
                            db[oc] += g;
                            dba[oc] += Math.abs(g);
                            for (int ci = 0; ci < c; ci++)
                                for (int ky = 0; ky < kh; ky++)
                                    for (int kx = 0; kx < kw; kx++) {
                                        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                        int xi = ((img * c + ci) * h + iy) * wd + ix, wi = ((oc * c + ci) * kh + ky) * kw + kx;
                                        acc += (double) xv[xi] * wv[wi];
                                        dx[xi] += g * wv[wi];
                                        dw[wi] += g * xv[xi];
                                        ya[at] += Math.abs((double) xv[xi] * wv[wi]);
                                        dxa[xi] += Math.abs(g * wv[wi]);
                                        dwa[wi] += Math.abs(g * xv[xi]);
                                    }
                            y[at] = acc;
                        }
            String name = "conv2d " + Arrays.toString(k);
            // the CPU's three-row stride-1 kernels run Winograd's F(4, 3) along the rows, whose transforms carry
            // coefficients up to 8 (and 1/24): about 4× a direct sum's rounding (measured worst 8.7e-7·(1 + Σ|terms|))
            double tol = kh == 3 && stride == 1 ? 4e-6 : 1e-6;
            try (Scope s = Scope.open()) {
                Tensor out = ConvolutionOps.conv2d(x, w, b, stride, pad);
                assertArrayEquals(new int[]{n, o, oh, ow}, out.shape(), name + " output shape");
                assertClose(y, ya, out.toFloats(), tol, name + " output");
                out.mul(Tensor.of(be, r, out.shape())).sumAll().backward();
                assertClose(dx, dxa, x.grad().toFloats(), tol, name + " dx");
                assertClose(dw, dwa, w.grad().toFloats(), tol, name + " dweight");
                if (hasBias) assertClose(db, dba, b.grad().toFloats(), name + " dbias");
            }
        }
    }

    @Test
    void conv2dShapeErrors() {
        Tensor x = input(be, 2, 3, 8, 8);
        var e = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.conv2d(x, input(be, 4, 5, 3, 3), null, 1, 1));
        assertEquals("conv2d: input [2, 3, 8, 8] has 3 channels but weight [4, 5, 3, 3] expects 5", e.getMessage());
        var big = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.conv2d(x, input(be, 4, 3, 11, 3), null, 1, 1));
        assertTrue(big.getMessage().startsWith("conv2d") && big.getMessage().contains("[4, 3, 11, 3]") && big.getMessage().contains("[2, 3, 8, 8]"), big.getMessage());
        var bias = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.conv2d(x, input(be, 4, 3, 3, 3), input(be, 3), 1, 1));
        assertTrue(bias.getMessage().startsWith("conv2d") && bias.getMessage().contains("[3]") && bias.getMessage().contains("[4, 3, 3, 3]"), bias.getMessage());
        var rank = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.conv2d(input(be, 3, 8, 8), input(be, 4, 3, 3, 3), null, 1, 1));
        assertTrue(rank.getMessage().startsWith("conv2d") && rank.getMessage().contains("[3, 8, 8]"), rank.getMessage());
    }

    /** Temporaries are freed as soon as they are dead: im2col's buffer outlives forward only for a weight gradient. */
    @Test
    void temporariesAreFreedPromptly() {
        MemoryStats mem = be.memory();
        Tensor x = param(be, 2, 3, 6, 5), frozen = input(be, 4, 3, 3, 3), trained = param(be, 4, 3, 3, 3);
        Tensor w = param(be, 5), b = param(be, 5), rm = zeros(3), rv = ones(3), cw = input(be, 3), cb = input(be, 3);
        try (Scope s = Scope.open()) {
            // conv2d saves nothing for backward (it rebuilds cols from x): closing the output returns live bytes to
            // where they were, whether the weight is frozen or trained (the comparison holds on every allocator)
            for (Tensor weight : new Tensor[]{frozen, trained}) {
                long before = mem.liveBytes();
                Tensor y = ConvolutionOps.conv2d(x, weight, null, 1, 1);
                assertTrue(mem.liveBytes() >= before + 4L * y.numel());
                y.close();
                assertEquals(before, mem.liveBytes(), "only the output outlives conv2d forward");
            }
        }
        // without the tape and without a scope, nothing but the output is left behind
        try (GradMode off = GradMode.disabled()) {
            long before = mem.liveBytes();
            Tensor[] outs = {NormalizationOps.layerNorm(x, w, b, 1e-5f), NormalizationOps.batchNorm2d(x, cw, cb, rm, rv, true, 0.1f, 1e-5f),
                    NormalizationOps.batchNorm2d(x, cw, cb, rm, rv, false, 0.1f, 1e-5f), ConvolutionOps.conv2d(x, trained, null, 1, 1)};
            long outBytes = 0;
            for (Tensor t : outs) outBytes += 4L * t.numel();
            assertTrue(mem.liveBytes() >= before + outBytes);
            for (Tensor t : outs) t.close();
            assertEquals(before, mem.liveBytes());
        }
    }

    /**
     * Backward kernels accumulate: two backward passes without zeroing give twice the gradient of one
     * (a kernel that overwrote its gradient buffer would give the single gradient).
     */
    @Test
    void backwardAccumulatesIntoGradients() {
        Tensor x = param(be, 2, 3, 5, 4), w = param(be, 3), b = param(be, 3);
        Tensor cw = param(be, 4, 3, 3, 3), cb = param(be, 4), lw = param(be, 4), lb = param(be, 4);
        Tensor rm = zeros(3), rv = ones(3);
        Tensor[] params = {x, w, b, cw, cb, lw, lb};
        // conv last: a normalization after it would make its bias gradient vanish (normalizing removes constant shifts)
        Function<Boolean, Tensor> loss = training -> {
            Tensor y = NormalizationOps.batchNorm2d(NormalizationOps.layerNorm(x, lw, lb, 1e-5f), w, b, rm, rv, training, 0.1f, 1e-5f);
            Tensor z = ConvolutionOps.conv2d(y, cw, cb, 2, 1);
            return z.mul(Tensor.uniform(be, 17, -1f, 1f, z.shape())).sumAll();
        };
        for (boolean training : new boolean[]{true, false}) {
            float[][] once = new float[params.length][], twice = new float[params.length][];
            try (Scope s = Scope.open()) {
                loss.apply(training).backward();
                for (int i = 0; i < params.length; i++) once[i] = params[i].grad().toFloats();
                loss.apply(training).backward();
                for (int i = 0; i < params.length; i++) twice[i] = params[i].grad().toFloats();
            } finally {
                for (Tensor t : params) t.zeroGrad();
            }
            for (int i = 0; i < params.length; i++)
                for (int j = 0; j < once[i].length; j++)
                    assertEquals(2 * once[i][j], twice[i][j], 1e-5 * (1 + Math.abs(once[i][j])),
                            "training=" + training + ", parameter " + i + ", element " + j);
        }
    }

    // ---------------------------------------------------------------- global average pooling

    @Test
    void globalAvgPool() {
        Tensor x = param(be, 2, 3, 5, 3);
        check.check("globalAvgPool", t -> ConvolutionOps.globalAvgPool(t[0]), x);
        float[] xv = x.toFloats();
        try (Scope s = Scope.open()) {
            Tensor y = ConvolutionOps.globalAvgPool(x);
            assertArrayEquals(new int[]{2, 3}, y.shape());
            float[] yv = y.toFloats();
            for (int p = 0; p < 6; p++) {
                double acc = 0;
                for (int i = 0; i < 15; i++) acc += xv[p * 15 + i];
                assertEquals(acc / 15, yv[p], 1e-6, "plane " + p);
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.globalAvgPool(input(be, 2, 3, 4)));
        assertTrue(e.getMessage().startsWith("globalAvgPool") && e.getMessage().contains("[2, 3, 4]"), e.getMessage());
    }

    // ---------------------------------------------------------------- helpers

    /** Elementwise √v for the composed LayerNorm (the op set has no sqrt): computed on the host, gradient g/(2√v). */
    private static Tensor sqrt(Tensor v) {
        Backend be = v.backend();
        float[] in = v.toFloats(), root = new float[in.length];
        for (int i = 0; i < in.length; i++) root[i] = (float) Math.sqrt(in[i]);
        Tensor out = Tensor.of(be, root, v.shape());
        return Autograd.record("sqrt (test)", out, new Tensor[]{v}, g -> {
            float[] gv = g.toFloats(), gin = new float[gv.length];
            for (int i = 0; i < gv.length; i++) gin[i] = (float) (gv[i] / (2.0 * root[i]));
            try (Tensor t = Tensor.of(be, gin, v.shape())) {
                be.elementwise().axpy(1f, t.storage(), Autograd.gradStorage(v), gin.length);
            }
        });
    }

    /** [0] per-channel mean, [1] per-channel biased variance of [n, c, hw], in double. */
    private static double[][] channelStats(float[] x, int n, int c, int hw) {
        double[][] s = new double[2][c];
        for (int ch = 0; ch < c; ch++) {
            double sum = 0, sq = 0;
            for (int img = 0; img < n; img++)
                for (int i = 0; i < hw; i++) sum += x[(img * c + ch) * hw + i];
            double mean = sum / (n * hw);
            for (int img = 0; img < n; img++)
                for (int i = 0; i < hw; i++) sq += Math.pow(x[(img * c + ch) * hw + i] - mean, 2);
            s[0][ch] = mean;
            s[1][ch] = sq / (n * hw);
        }
        return s;
    }

    private Tensor persistent(float[] values) {
        return Scope.persistent(() -> Tensor.of(be, values, values.length));
    }

    private Tensor zeros(int n) {
        return Scope.persistent(() -> Tensor.zeros(be, n));
    }

    private Tensor ones(int n) {
        return Scope.persistent(() -> Tensor.full(be, 1f, n));
    }
}
