package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Convolution;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * Depthwise convolution as a direct stencil, one (image, channel) plane at a time on heap copies of the plane.
 *
 * <p>Stride 1 (ConvNeXt's 7×7, padding 3) takes a vectorizable path: the plane is copied into a zero-bordered buffer
 * of width W' = w + padW·2, and the output is computed in that same row pitch (columns ow..W'−1 of each output row
 * are scratch). Every kernel tap is then one long contiguous loop y'[i] += w·x'[i + ky·W' + kx] over all output rows
 * at once, with no bounds checks, which the JIT turns into SIMD once the shifted window is copied into its own
 * array (with y[i] and x'[i + offset] in two arrays it cannot prove distinct, it keeps the loop scalar: measured 3.7×
 * slower); backward uses the same trick (the weight gradient as
 * dot products, the input gradient as the transposed stencil into a bordered buffer). Other strides use the direct
 * loop with each tap's valid output range computed once per call.
 *
 * <p>Forward is parallel over planes; backward over channels (each channel owns its weight and bias gradients and
 * its input-gradient planes, so nothing races and the sums run in a fixed order).
 */
final class CpuConvolution implements Convolution {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;
    /** Stride-1 convolutions, on the same team. */
    private final CpuDirectConv direct;

    CpuConvolution(Parallel parallel) {
        this.parallel = parallel;
        this.direct = new CpuDirectConv(parallel);
    }

    /** First output index whose input index o·stride − pad + k is ≥ 0. */
    private static int first(int k, int stride, int pad) {
        return Math.max(0, Math.floorDiv(pad - k + stride - 1, stride));
    }

    /** Last output index (inclusive, capped at outSize − 1) whose input index o·stride − pad + k is < inSize. */
    private static int last(int k, int stride, int pad, int inSize, int outSize) {
        return Math.min(outSize - 1, Math.floorDiv(inSize - 1 + pad - k, stride));
    }

    /** [first, last] output ranges of every tap along one axis. */
    private static int[][] ranges(int k, int stride, int pad, int inSize, int outSize) {
        int[][] r = new int[2][k];
        for (int t = 0; t < k; t++) {
            r[0][t] = first(t, stride, pad);
            r[1][t] = last(t, stride, pad, inSize, outSize);
        }
        return r;
    }

    @Override
    public boolean hasDirectConv2d(int kh, int kw, int stride, int pad) {
        return CpuDirectConv.supports(kh, kw, stride, pad);
    }

    @Override
    public void conv2d(Storage in, Storage weight, Storage out, int n, int c, int h, int w, int o, int kh, int kw, int pad) {
        direct.forward(f(in), f(weight), f(out), n, new CpuDirectConv.Geometry(c, h, w, o, kh, kw, pad, pad));
    }

    @Override
    public void conv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, boolean overwriteGradIn, Storage gradWeight,
                               int n, int c, int h, int w, int o, int kh, int kw, int pad) {
        direct.backward(f(gradOut), f(in), f(weight), f(gradIn), overwriteGradIn, f(gradWeight), n,
                new CpuDirectConv.Geometry(c, h, w, o, kh, kw, pad, pad));
    }

    @Override
    public void depthwiseConv2d(Storage in, Storage weight, Storage bias, Storage out, int n, int c, int h, int w,
                                int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out);
        int inPlane = h * w, outPlane = oh * ow, taps = kh * kw;
        int grain = Math.max(1, GRAIN / Math.max(outPlane * taps, 1));
        if (strideH == 1 && strideW == 1) {
            int pw = w + 2 * padW, ph = h + 2 * padH, len = (oh - 1) * pw + ow;
            int[][] span = spans(kh, kw, padH, padW, h, w, oh, ow, pw);
            parallel.forRange(n * c, grain, (s, e) -> {
                float[] xp = new float[ph * pw], y = new float[oh * pw], xs = new float[len], wk = new float[taps];
                for (int plane = s; plane < e; plane++) {
                    int ch = plane % c;
                    for (int iy = 0; iy < h; iy++) X.get(plane * inPlane + iy * w, xp, (iy + padH) * pw + padW, w);
                    W.get(ch * taps, wk, 0, taps);
                    java.util.Arrays.fill(y, B == null ? 0f : B.get(ch));
                    for (int t = 0; t < taps; t++) {
                        int from = span[0][t], to = span[1][t];
                        if (from >= to) continue;
                        // the shifted window as its own array: y[i] and xs[i] then share the index, which the JIT
                        // vectorizes (it cannot prove y and xp distinct, so y[i] += w·xp[base + i] stays scalar)
                        System.arraycopy(xp, (t / kw) * pw + t % kw + from, xs, from, to - from);
                        axpy(wk[t], xs, y, from, to);
                    }
                    for (int oy = 0; oy < oh; oy++) Y.put(plane * outPlane + oy * ow, y, oy * pw, ow);
                }
            });
            return;
        }
        int[][] ry = ranges(kh, strideH, padH, h, oh), rx = ranges(kw, strideW, padW, w, ow);
        parallel.forRange(n * c, grain, (s, e) -> {
            float[] x = new float[inPlane], y = new float[outPlane], wk = new float[taps];
            for (int plane = s; plane < e; plane++) {
                int ch = plane % c;
                X.get(plane * inPlane, x, 0, inPlane);
                W.get(ch * taps, wk, 0, taps);
                java.util.Arrays.fill(y, B == null ? 0f : B.get(ch));
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        float wv = wk[ky * kw + kx];
                        int ox0 = rx[0][kx], ox1 = rx[1][kx];
                        for (int oy = ry[0][ky]; oy <= ry[1][ky]; oy++) {
                            int yo = oy * ow, xo = (oy * strideH - padH + ky) * w - padW + kx;
                            for (int ox = ox0; ox <= ox1; ox++) y[yo + ox] += wv * x[xo + ox * strideW];
                        }
                    }
                Y.put(plane * outPlane, y, 0, outPlane);
            }
        });
    }

    @Override
    public void depthwiseConv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, Storage gradWeight, Storage gradBias,
                                        int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW,
                                        int oh, int ow) {
        if (gradIn == null && gradWeight == null && gradBias == null) return;
        FloatBuffer G = f(gradOut), X = f(in), W = f(weight), GI = f(gradIn), GW = f(gradWeight), GB = f(gradBias);
        int inPlane = h * w, outPlane = oh * ow, taps = kh * kw;
        int grain = Math.max(1, GRAIN / Math.max(n * outPlane * taps, 1));
        if (strideH == 1 && strideW == 1) {
            int pw = w + 2 * padW, ph = h + 2 * padH, len = (oh - 1) * pw + ow;
            int[][] span = spans(kh, kw, padH, padW, h, w, oh, ow, pw);
            parallel.forRange(c, grain, (s, e) -> {
                // g in the bordered row pitch: its scratch columns stay zero, so they add nothing to either gradient
                float[] g = new float[oh * pw], xp = GW != null ? new float[ph * pw] : null, dxp = GI != null ? new float[ph * pw] : null;
                float[] wk = new float[taps], tmp = new float[len];
                double[] dw = new double[taps];
                for (int ch = s; ch < e; ch++) {
                    W.get(ch * taps, wk, 0, taps);
                    java.util.Arrays.fill(dw, 0.0);
                    double db = 0;
                    for (int img = 0; img < n; img++) {
                        int plane = img * c + ch;
                        for (int oy = 0; oy < oh; oy++) G.get(plane * outPlane + oy * ow, g, oy * pw, ow);
                        if (GB != null) for (int i = 0; i < len; i++) db += g[i];
                        if (xp != null) {
                            for (int iy = 0; iy < h; iy++) X.get(plane * inPlane + iy * w, xp, (iy + padH) * pw + padW, w);
                            for (int t = 0; t < taps; t++) {
                                int from = span[0][t], to = span[1][t];
                                if (from >= to) continue;
                                System.arraycopy(xp, (t / kw) * pw + t % kw + from, tmp, from, to - from);
                                dw[t] += dot(g, tmp, from, to);
                            }
                        }
                        if (dxp != null) {
                            java.util.Arrays.fill(dxp, 0f);
                            for (int t = 0; t < taps; t++) { // the transposed stencil, through a copy for the same reason
                                int from = span[0][t], to = span[1][t];
                                if (from >= to) continue;
                                int base = (t / kw) * pw + t % kw + from;
                                System.arraycopy(dxp, base, tmp, from, to - from);
                                axpy(wk[t], g, tmp, from, to);
                                System.arraycopy(tmp, from, dxp, base, to - from);
                            }
                            for (int iy = 0; iy < h; iy++) {
                                int off = plane * inPlane + iy * w, row = (iy + padH) * pw + padW;
                                for (int ix = 0; ix < w; ix++) GI.put(off + ix, GI.get(off + ix) + dxp[row + ix]);
                            }
                        }
                    }
                    if (GW != null) for (int t = 0; t < taps; t++) GW.put(ch * taps + t, GW.get(ch * taps + t) + (float) dw[t]);
                    if (GB != null) GB.put(ch, GB.get(ch) + (float) db);
                }
            });
            return;
        }
        int[][] ry = ranges(kh, strideH, padH, h, oh), rx = ranges(kw, strideW, padW, w, ow);
        parallel.forRange(c, grain, (s, e) -> {
            float[] g = new float[outPlane], x = GW != null ? new float[inPlane] : null, dx = GI != null ? new float[inPlane] : null;
            float[] wk = new float[taps];
            double[] dw = new double[taps];
            for (int ch = s; ch < e; ch++) {
                W.get(ch * taps, wk, 0, taps);
                java.util.Arrays.fill(dw, 0.0);
                double db = 0;
                for (int img = 0; img < n; img++) {
                    int plane = img * c + ch;
                    G.get(plane * outPlane, g, 0, outPlane);
                    if (GB != null) for (int i = 0; i < outPlane; i++) db += g[i];
                    if (x != null) X.get(plane * inPlane, x, 0, inPlane);
                    if (dx != null) GI.get(plane * inPlane, dx, 0, inPlane);
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            int t = ky * kw + kx;
                            float wv = wk[t];
                            int ox0 = rx[0][kx], ox1 = rx[1][kx];
                            double acc = 0;
                            for (int oy = ry[0][ky]; oy <= ry[1][ky]; oy++) {
                                int go = oy * ow, xo = (oy * strideH - padH + ky) * w - padW + kx;
                                if (x != null) {
                                    float rowAcc = 0f;
                                    for (int ox = ox0; ox <= ox1; ox++) rowAcc += g[go + ox] * x[xo + ox * strideW];
                                    acc += rowAcc;
                                }
                                if (dx != null) for (int ox = ox0; ox <= ox1; ox++) dx[xo + ox * strideW] += wv * g[go + ox];
                            }
                            dw[t] += acc;
                        }
                    if (dx != null) GI.put(plane * inPlane, dx, 0, inPlane);
                }
                if (GW != null) for (int t = 0; t < taps; t++) GW.put(ch * taps + t, GW.get(ch * taps + t) + (float) dw[t]);
                if (GB != null) GB.put(ch, GB.get(ch) + (float) db);
            }
        });
    }

    /**
     * For the stride-1 path, per tap t: the range [from, to) of bordered output indices (row pitch pw) from its first
     * to its last output position that reads inside the image. Outside it the tap reads only the zero border, so it is
     * skipped (a 7×7 kernel on ConvNeXt's 3×3 and 1×1 maps has 24 and 48 such taps); inside it, border reads add zeros.
     * from ≥ to marks a tap that never reads the image.
     */
    private static int[][] spans(int kh, int kw, int padH, int padW, int h, int w, int oh, int ow, int pw) {
        int[][] span = new int[2][kh * kw];
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                int t = ky * kw + kx;
                int oy0 = first(ky, 1, padH), oy1 = last(ky, 1, padH, h, oh), ox0 = first(kx, 1, padW), ox1 = last(kx, 1, padW, w, ow);
                if (oy0 > oy1 || ox0 > ox1) continue; // from = to = 0
                span[0][t] = oy0 * pw + ox0;
                span[1][t] = oy1 * pw + ox1 + 1;
            }
        return span;
    }

    /** y[i] += a·x[i] for from ≤ i &lt; to (vectorized by the JIT: same index on both arrays). */
    private static void axpy(float a, float[] x, float[] y, int from, int to) {
        for (int i = from; i < to; i++) y[i] += a * x[i];
    }

    /** Σ_{from ≤ i &lt; to} a[i]·b[i] with eight float accumulators (instruction-level parallelism), summed in double. */
    private static double dot(float[] a, float[] b, int from, int to) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int i = from, len = to;
        for (; i + 7 < len; i += 8) {
            s0 += a[i] * b[i];
            s1 += a[i + 1] * b[i + 1];
            s2 += a[i + 2] * b[i + 2];
            s3 += a[i + 3] * b[i + 3];
            s4 += a[i + 4] * b[i + 4];
            s5 += a[i + 5] * b[i + 5];
            s6 += a[i + 6] * b[i + 6];
            s7 += a[i + 7] * b[i + 7];
        }
        for (; i < len; i++) s0 += a[i] * b[i];
        return ((double) s0 + s1 + s2 + s3) + ((double) s4 + s5 + s6 + s7);
    }
}
