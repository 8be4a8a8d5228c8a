package dma.engine.ops;

import dma.engine.Flops;
import dma.engine.GradMode;
import dma.engine.MemoryStats;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.function.Function;

import static dma.engine.ops.TestTensors.accountedBytes;
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
 * The ops ConvNeXt adds: depthwise conv2d, LayerNorm over the channels of NCHW (LayerNorm2d) and layer scale.
 * Float64 finite-difference checks, references in double on the host, and equivalence with the composed forms
 * (a dense conv2d with a block-diagonal weight; permute → LayerNorm → permute; a broadcast multiply).
 */
class ConvNeXtOpsGradTest extends EveryBackend {
    private final GradCheck check = GradCheck.standard();

    // ---------------------------------------------------------------- depthwise conv2d

    /** n, c, h, w, kh, kw, strideH, strideW, padH, padW, bias (1/0). */
    private static final int[][] DW_CONFIGS = {
            {2, 3, 6, 6, 3, 3, 1, 1, 1, 1, 1},   // 3×3 same padding
            {2, 2, 7, 7, 7, 7, 1, 1, 3, 3, 1},   // ConvNeXt: 7×7, padding 3
            {1, 3, 7, 5, 3, 2, 2, 1, 1, 0, 1},   // odd 7×5 input, 3×2 kernel, strides 2×1, padding 1×0
            {2, 2, 5, 5, 3, 3, 2, 2, 0, 0, 0},   // stride 2, no padding, no bias
            {1, 2, 3, 4, 5, 5, 1, 1, 2, 2, 1},   // kernel larger than the image (padding makes it fit)
            {2, 3, 6, 6, 2, 2, 3, 3, 1, 1, 1},   // stride larger than the kernel: some inputs are never read
            {1, 2, 6, 5, 3, 2, 1, 1, 0, 1, 1},   // stride 1 with padding 0 × 1 and a 3×2 kernel (the bordered fast path)
    };

    /** Large enough for the planes and channels to split across threads (ConvNeXt stage-1 size at 28², patch 2). */
    private static final int[] DW_LARGE = {4, 48, 14, 14, 7, 7, 1, 1, 3, 3, 1};

    private Tensor dw(Tensor[] t, int[] k) {
        return ConvolutionOps.depthwiseConv2d(t[0], t[1], k[10] == 1 ? t[2] : null, k[6], k[7], k[8], k[9]);
    }

    @Test
    void depthwiseConv2dGradients() {
        for (int[] k : DW_CONFIGS) {
            Tensor x = param(be, k[0], k[1], k[2], k[3]), w = param(be, k[1], 1, k[4], k[5]);
            String name = "depthwiseConv2d " + Arrays.toString(k);
            if (k[10] == 1) check.check(name, t -> dw(t, k), x, w, param(be, k[1]));
            else check.check(name, t -> dw(t, k), x, w);
        }
    }

    @Test
    void depthwiseConv2dFrozenWeightOrInput() {
        int[] k = DW_CONFIGS[1];
        check.check("depthwiseConv2d frozen weight", t -> dw(t, k), param(be, 2, 2, 7, 7), input(be, 2, 1, 7, 7), param(be, 2));
        check.check("depthwiseConv2d fixed input", t -> dw(t, k), input(be, 2, 2, 7, 7), param(be, 2, 1, 7, 7), input(be, 2));
    }

    /** Forward and all three gradients against a direct depthwise convolution in double. */
    @Test
    void depthwiseConv2dMatchesNaiveConvolution() {
        int[][] configs = Arrays.copyOf(DW_CONFIGS, DW_CONFIGS.length + 1);
        configs[DW_CONFIGS.length] = DW_LARGE;
        for (int[] k : configs) {
            int n = k[0], c = k[1], h = k[2], wd = k[3], kh = k[4], kw = k[5], sh = k[6], sw = k[7], ph = k[8], pw = k[9];
            boolean hasBias = k[10] == 1;
            int oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
            Tensor x = param(be, n, c, h, wd), w = param(be, c, 1, kh, kw), b = hasBias ? param(be, c) : input(be, c);
            float[] xv = x.toFloats(), wv = w.toFloats(), bv = hasBias ? b.toFloats() : new float[c];
            float[] r = GradCheck.projection(n * c * oh * ow, 31);
            double[] y = new double[r.length], dx = new double[xv.length], dwt = new double[wv.length], db = new double[c];
            double[] ya = new double[r.length], dxa = new double[xv.length], dwa = new double[wv.length], dba = new double[c];
            for (int img = 0; img < n; img++)
                for (int ch = 0; ch < c; ch++)
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++) {
                            int at = ((img * c + ch) * oh + oy) * ow + ox;
                            double acc = bv[ch], g = r[at];
                            ya[at] = Math.abs(acc);
                            db[ch] += g;
                            dba[ch] += Math.abs(g);
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    int xi = ((img * c + ch) * h + iy) * wd + ix, wi = (ch * kh + ky) * kw + kx;
                                    acc += (double) xv[xi] * wv[wi];
                                    dx[xi] += g * wv[wi];
                                    dwt[wi] += g * xv[xi];
                                    ya[at] += Math.abs((double) xv[xi] * wv[wi]);
                                    dxa[xi] += Math.abs(g * wv[wi]);
                                    dwa[wi] += Math.abs(g * xv[xi]);
                                }
                            y[at] = acc;
                        }
            String name = "depthwiseConv2d " + Arrays.toString(k);
            try (Scope s = Scope.open()) {
                Tensor out = ConvolutionOps.depthwiseConv2d(x, w, hasBias ? b : null, sh, sw, ph, pw);
                assertArrayEquals(new int[]{n, c, oh, ow}, out.shape(), name + " output shape");
                assertClose(y, ya, out.toFloats(), name + " output");
                out.mul(Tensor.of(be, r, out.shape())).sumAll().backward();
                assertClose(dx, dxa, x.grad().toFloats(), name + " dx");
                assertClose(dwt, dwa, w.grad().toFloats(), name + " dweight");
                if (hasBias) assertClose(db, dba, b.grad().toFloats(), name + " dbias");
            } finally {
                x.zeroGrad();
                w.zeroGrad();
                if (hasBias) b.zeroGrad();
            }
        }
    }

    /** A depthwise convolution is the dense conv2d whose weight is zero between different channels. */
    @Test
    void depthwiseConv2dEqualsBlockDiagonalConv2d() {
        int n = 2, c = 5, h = 9, wd = 8, kh = 7, kw = 7;
        Tensor x = param(be, n, c, h, wd), w = param(be, c, 1, kh, kw), b = param(be, c);
        float[] wv = w.toFloats(), dense = new float[c * c * kh * kw];
        for (int ch = 0; ch < c; ch++)
            System.arraycopy(wv, ch * kh * kw, dense, (ch * c + ch) * kh * kw, kh * kw);
        Tensor wd2 = Scope.persistent(() -> Tensor.of(be, dense, c, c, kh, kw));
        float[][] ours = outputAndGradients(t -> ConvolutionOps.depthwiseConv2d(t[0], w, b, 1, 3), x);
        float[][] ref = outputAndGradients(t -> ConvolutionOps.conv2d(t[0], wd2, b, 1, 3), x);
        w.zeroGrad();
        b.zeroGrad();
        assertTrue(relativeError(ours[0], ref[0]) < 1e-6, "output");
        assertTrue(relativeError(ours[1], ref[1]) < 1e-6, "dx");
    }

    @Test
    void depthwiseConv2dCountsItsWork() {
        Tensor x = param(be, 2, 3, 6, 6), w = param(be, 3, 1, 3, 3);
        try (Scope s = Scope.open()) {
            Flops.Count before = Flops.now();
            Tensor y = ConvolutionOps.depthwiseConv2d(x, w, null, 1, 1);
            long work = 2L * 2 * 3 * 6 * 6 * 9;
            assertEquals(work, Flops.now().minus(before).forward());
            y.sumAll().backward();
            Flops.Count all = Flops.now().minus(before);
            assertEquals(2 * work, all.weightGrad(), "x and w are leaves: both gradients count as weight-gradient work");
            assertEquals(3 * work, all.total());
        } finally {
            x.zeroGrad();
            w.zeroGrad();
        }
    }

    @Test
    void depthwiseConv2dShapeErrors() {
        Tensor x = input(be, 2, 3, 8, 8);
        var e = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.depthwiseConv2d(x, input(be, 4, 1, 3, 3), null, 1, 1));
        assertEquals("depthwiseConv2d: weight must be [3, 1, kh, kw] for input [2, 3, 8, 8], got [4, 1, 3, 3]", e.getMessage());
        var dense = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.depthwiseConv2d(x, input(be, 3, 3, 3, 3), null, 1, 1));
        assertTrue(dense.getMessage().contains("[3, 3, 3, 3]"), dense.getMessage());
        var big = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.depthwiseConv2d(x, input(be, 3, 1, 11, 3), null, 1, 1));
        assertTrue(big.getMessage().contains("larger than input [2, 3, 8, 8]"), big.getMessage());
        var bias = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.depthwiseConv2d(x, input(be, 3, 1, 3, 3), input(be, 4), 1, 1));
        assertTrue(bias.getMessage().contains("[4]") && bias.getMessage().contains("expects [3]"), bias.getMessage());
        var stride = assertThrows(IllegalArgumentException.class, () -> ConvolutionOps.depthwiseConv2d(x, input(be, 3, 1, 3, 3), null, 0, 1));
        assertTrue(stride.getMessage().contains("stride"), stride.getMessage());
    }

    // ---------------------------------------------------------------- LayerNorm over channels

    @Test
    void layerNorm2dGradients() {
        check.check("layerNorm2d [2, 5, 3, 4]", t -> NormalizationOps.layerNorm2d(t[0], t[1], t[2], 1e-6f),
                param(be, 2, 5, 3, 4), param(be, 5), param(be, 5));
        check.check("layerNorm2d [3, 7, 1, 1]", t -> NormalizationOps.layerNorm2d(t[0], t[1], t[2], 1e-6f),
                param(be, 3, 7, 1, 1), param(be, 7), param(be, 7));
        check.check("layerNorm2d frozen affine", t -> NormalizationOps.layerNorm2d(t[0], t[1], t[2], 1e-6f),
                param(be, 2, 4, 2, 3), input(be, 4), input(be, 4));
    }

    /** The fused op against timm's LayerNorm2d: permute to channels-last, LayerNorm, permute back. */
    @Test
    void layerNorm2dMatchesPermutedLayerNorm() {
        // [8, 48, 14, 14]: enough positions to split the statistics and the weight-gradient partial sums across threads
        for (int[] shape : new int[][]{{2, 5, 3, 4}, {1, 3, 1, 7}, {8, 48, 14, 14}}) {
            int c = shape[1];
            Tensor x = param(be, shape), w = param(be, c), b = param(be, c);
            float[][] fused = outputAndGradients(t -> NormalizationOps.layerNorm2d(t[0], t[1], t[2], 1e-6f), x, w, b);
            float[][] ref = outputAndGradients(t -> NormalizationOps.layerNorm(t[0].permute(0, 2, 3, 1), t[1], t[2], 1e-6f).permute(0, 3, 1, 2), x, w, b);
            String[] what = {"output", "dx", "dweight", "dbias"};
            for (int i = 0; i < what.length; i++) {
                double err = relativeError(fused[i], ref[i]);
                assertTrue(err < 1e-5, "layerNorm2d " + Arrays.toString(shape) + " " + what[i] + ": relative error " + err);
            }
        }
    }

    @Test
    void layerNorm2dForwardMatchesDoubleReference() {
        int n = 2, c = 6, hw = 5;
        float eps = 1e-6f;
        Tensor x = input(be, n, c, 1, hw), w = input(be, c), b = input(be, c);
        float[] xv = x.toFloats(), wv = w.toFloats(), bv = b.toFloats();
        try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            float[] y = NormalizationOps.layerNorm2d(x, w, b, eps).toFloats();
            for (int img = 0; img < n; img++)
                for (int p = 0; p < hw; p++) {
                    double mu = 0, var = 0;
                    for (int ch = 0; ch < c; ch++) mu += xv[(img * c + ch) * hw + p];
                    mu /= c;
                    for (int ch = 0; ch < c; ch++) var += Math.pow(xv[(img * c + ch) * hw + p] - mu, 2);
                    var /= c;
                    for (int ch = 0; ch < c; ch++) {
                        int at = (img * c + ch) * hw + p;
                        double ref = (xv[at] - mu) / Math.sqrt(var + eps) * wv[ch] + bv[ch];
                        assertEquals(ref, y[at], 1e-5 * (1 + Math.abs(ref)), "element " + at);
                    }
                }
        }
    }

    @Test
    void layerNorm2dShapeErrors() {
        var rank = assertThrows(IllegalArgumentException.class, () -> NormalizationOps.layerNorm2d(input(be, 2, 3, 4), input(be, 3), input(be, 3), 1e-6f));
        assertTrue(rank.getMessage().startsWith("layerNorm2d") && rank.getMessage().contains("[2, 3, 4]"), rank.getMessage());
        var w = assertThrows(IllegalArgumentException.class, () -> NormalizationOps.layerNorm2d(input(be, 2, 3, 4, 4), input(be, 4), input(be, 3), 1e-6f));
        assertTrue(w.getMessage().contains("weight") && w.getMessage().contains("[3]") && w.getMessage().contains("[4]"), w.getMessage());
    }

    // ---------------------------------------------------------------- layer scale

    @Test
    void layerScaleGradients() {
        check.check("layerScale channels-first", t -> ElementwiseOps.layerScale(t[0], t[1], 1), param(be, 2, 4, 3, 3), param(be, 4));
        check.check("layerScale channels-last", t -> ElementwiseOps.layerScale(t[0], t[1], -1), param(be, 2, 3, 3, 5), param(be, 5));
        check.check("layerScale frozen gamma", t -> ElementwiseOps.layerScale(t[0], t[1], 1), param(be, 2, 4, 3), input(be, 4));
    }

    /** The kernel against the broadcasting multiply x·gamma.reshape(…), both layouts, sizes that split across threads. */
    @Test
    void layerScaleMatchesBroadcastMultiply() {
        for (int[] shape : new int[][]{{2, 4, 3, 3}, {16, 96, 14, 14}}) {
            int c = shape[1];
            Tensor x = param(be, shape), g = param(be, c);
            float[][] ours = outputAndGradients(t -> ElementwiseOps.layerScale(t[0], t[1], 1), x, g);
            float[][] ref = outputAndGradients(t -> t[0].mul(t[1].reshape(1, c, 1, 1)), x, g);
            int[] last = {shape[0], shape[2], shape[3], c};
            Tensor xl = param(be, last);
            float[][] oursL = outputAndGradients(t -> ElementwiseOps.layerScale(t[0], t[1], 3), xl, g);
            float[][] refL = outputAndGradients(t -> t[0].mul(t[1]), xl, g);
            for (int i = 0; i < 3; i++) {
                assertTrue(relativeError(ours[i], ref[i]) < 1e-6, Arrays.toString(shape) + " channels-first, part " + i);
                assertTrue(relativeError(oursL[i], refL[i]) < 1e-6, Arrays.toString(last) + " channels-last, part " + i);
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> ElementwiseOps.layerScale(input(be, 2, 4, 3), input(be, 3), 1));
        assertTrue(e.getMessage().startsWith("layerScale") && e.getMessage().contains("[4]"), e.getMessage());
    }

    // ---------------------------------------------------------------- contract

    /** Backward kernels accumulate: two backward passes without zeroing give twice the gradient of one. */
    @Test
    void backwardAccumulatesIntoGradients() {
        Tensor x = param(be, 2, 3, 6, 5), w = param(be, 3, 1, 3, 3), b = param(be, 3), lw = param(be, 3), lb = param(be, 3), g = param(be, 3);
        Tensor[] params = {x, w, b, lw, lb, g};
        Tensor r = Scope.persistent(() -> Tensor.uniform(be, 5, -1f, 1f, 2, 3, 6, 5));
        Function<Void, Tensor> loss = v -> ElementwiseOps.layerScale(NormalizationOps.layerNorm2d(ConvolutionOps.depthwiseConv2d(x, w, b, 1, 1), lw, lb, 1e-6f), g, 1)
                .mul(r).sumAll();
        float[][] once = new float[params.length][], twice = new float[params.length][];
        try (Scope s = Scope.open()) {
            loss.apply(null).backward();
            for (int i = 0; i < params.length; i++) once[i] = params[i].grad().toFloats();
            loss.apply(null).backward();
            for (int i = 0; i < params.length; i++) twice[i] = params[i].grad().toFloats();
        } finally {
            for (Tensor t : params) t.zeroGrad();
        }
        for (int i = 0; i < params.length; i++)
            for (int j = 0; j < once[i].length; j++)
                assertEquals(2 * once[i][j], twice[i][j], 1e-5 * (1 + Math.abs(once[i][j])), "parameter " + i + ", element " + j);
    }

    /** A frozen weight gets no gradient buffer, and without the tape only the outputs outlive the ops. */
    @Test
    void frozenInputsAndTemporaries() {
        Tensor x = param(be, 2, 3, 5, 5), w = input(be, 3, 1, 3, 3), lw = input(be, 3), lb = input(be, 3), g = input(be, 3);
        try (Scope s = Scope.open()) {
            ElementwiseOps.layerScale(NormalizationOps.layerNorm2d(ConvolutionOps.depthwiseConv2d(x, w, null, 1, 1), lw, lb, 1e-6f), g, 1).sumAll().backward();
            assertTrue(x.grad() != null);
            assertNull(w.grad());
            assertNull(lw.grad());
            assertNull(g.grad());
        } finally {
            x.zeroGrad();
        }
        MemoryStats mem = be.memory();
        try (GradMode off = GradMode.disabled()) {
            long before = mem.liveBytes();
            Tensor a = ConvolutionOps.depthwiseConv2d(x, w, null, 1, 1), bn = NormalizationOps.layerNorm2d(x, lw, lb, 1e-6f), c = ElementwiseOps.layerScale(x, g, 1);
            assertEquals(before + accountedBytes(be, a.dtype(), a.shape()) + accountedBytes(be, bn.dtype(), bn.shape())
                    + accountedBytes(be, c.dtype(), c.shape()), mem.liveBytes());
            a.close();
            bn.close();
            c.close();
            assertEquals(before, mem.liveBytes());
        }
    }

    // ---------------------------------------------------------------- helpers

}
