package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Convolution;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * Depthwise convolution as a direct stencil, one (image, channel) plane at a time on heap copies of the plane.
 * For every kernel tap (ky, kx) the range of output columns whose input column lies inside the image is computed
 * once, so the inner loop has no bounds checks. Forward is parallel over planes; backward over channels (each
 * channel owns its weight and bias gradients and its input-gradient planes, so nothing races and the sums run in
 * a fixed order).
 */
final class CpuConvolution implements Convolution {
    private static final int GRAIN = 1 << 14;

    /** First output index whose input index o·stride − pad + k is ≥ 0. */
    private static int first(int k, int stride, int pad) {
        return Math.max(0, Math.floorDiv(pad - k + stride - 1, stride));
    }

    /** Last output index (inclusive, capped at outSize − 1) whose input index o·stride − pad + k is < inSize. */
    private static int last(int k, int stride, int pad, int inSize, int outSize) {
        return Math.min(outSize - 1, Math.floorDiv(inSize - 1 + pad - k, stride));
    }

    @Override
    public void depthwiseConv2d(Storage in, Storage weight, Storage bias, Storage out, int n, int c, int h, int w,
                                int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out);
        int inPlane = h * w, outPlane = oh * ow, taps = kh * kw;
        Parallel.forRange(n * c, Math.max(1, GRAIN / Math.max(outPlane * taps, 1)), (s, e) -> {
            float[] x = new float[inPlane], y = new float[outPlane], wk = new float[taps];
            for (int plane = s; plane < e; plane++) {
                int ch = plane % c;
                X.get(plane * inPlane, x, 0, inPlane);
                W.get(ch * taps, wk, 0, taps);
                java.util.Arrays.fill(y, B == null ? 0f : B.get(ch));
                for (int ky = 0; ky < kh; ky++) {
                    int oy0 = first(ky, strideH, padH), oy1 = last(ky, strideH, padH, h, oh);
                    for (int kx = 0; kx < kw; kx++) {
                        float wv = wk[ky * kw + kx];
                        int ox0 = first(kx, strideW, padW), ox1 = last(kx, strideW, padW, w, ow);
                        for (int oy = oy0; oy <= oy1; oy++) {
                            int yo = oy * ow, xo = (oy * strideH - padH + ky) * w - padW + kx;
                            for (int ox = ox0; ox <= ox1; ox++) y[yo + ox] += wv * x[xo + ox * strideW];
                        }
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
        Parallel.forRange(c, Math.max(1, GRAIN / Math.max(n * outPlane * taps, 1)), (s, e) -> {
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
                    for (int ky = 0; ky < kh; ky++) {
                        int oy0 = first(ky, strideH, padH), oy1 = last(ky, strideH, padH, h, oh);
                        for (int kx = 0; kx < kw; kx++) {
                            int t = ky * kw + kx;
                            float wv = wk[t];
                            int ox0 = first(kx, strideW, padW), ox1 = last(kx, strideW, padW, w, ow);
                            double acc = 0;
                            for (int oy = oy0; oy <= oy1; oy++) {
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
                    }
                    if (dx != null) GI.put(plane * inPlane, dx, 0, inPlane);
                }
                if (GW != null) for (int t = 0; t < taps; t++) GW.put(ch * taps + t, GW.get(ch * taps + t) + (float) dw[t]);
                if (GB != null) GB.put(ch, GB.get(ch) + (float) db);
            }
        });
    }
}
