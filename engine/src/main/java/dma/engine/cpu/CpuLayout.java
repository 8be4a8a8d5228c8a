package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Layout;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

final class CpuLayout implements Layout {
    private static final int GRAIN = 1 << 14;

    @Override
    public void permute(Storage in, int[] shape, int[] perm, Storage out, boolean accumulate) {
        if (out == null) return;
        FloatBuffer X = f(in), Y = f(out);
        int r = shape.length;
        int[] inStrides = new int[r];
        for (int i = r - 1, acc = 1; i >= 0; i--) {
            inStrides[i] = acc;
            acc *= shape[i];
        }
        int[] outShape = new int[r], strideOfOut = new int[r];
        for (int i = 0; i < r; i++) {
            outShape[i] = shape[perm[i]];
            strideOfOut[i] = inStrides[perm[i]];
        }
        int cols = r == 0 ? 1 : outShape[r - 1], rows = 1;
        for (int i = 0; i < r - 1; i++) rows *= outShape[i];
        int lastStride = r == 0 ? 0 : strideOfOut[r - 1];
        Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            int[] coord = new int[Math.max(r - 1, 0)];
            float[] a = lastStride == 1 && accumulate ? new float[cols] : null, c = a == null ? null : new float[cols];
            CpuElementwise.unravel(s, outShape, r - 1, coord);
            for (int row = s; row < e; row++) {
                int src = 0;
                for (int d = 0; d < r - 1; d++) src += coord[d] * strideOfOut[d];
                int dst = row * cols;
                if (lastStride == 1 && !accumulate) Y.put(dst, X, src, cols); // the last axis stays last: one contiguous run
                else if (lastStride == 1) {
                    X.get(src, a, 0, cols);
                    Y.get(dst, c, 0, cols);
                    for (int j = 0; j < cols; j++) c[j] += a[j];
                    Y.put(dst, c, 0, cols);
                } else if (accumulate) for (int j = 0; j < cols; j++) Y.put(dst + j, Y.get(dst + j) + X.get(src + j * lastStride));
                else for (int j = 0; j < cols; j++) Y.put(dst + j, X.get(src + j * lastStride));
                CpuElementwise.increment(coord, outShape, r - 1);
            }
        });
    }

    @Override
    public void copyBlocks(Storage src, int srcOff, int srcStride, Storage dst, int dstOff, int dstStride,
                           int blockLen, int blocks, boolean accumulate) {
        if (dst == null) return;
        FloatBuffer S = f(src), D = f(dst);
        Parallel.forRange(blocks, Math.max(1, GRAIN / Math.max(blockLen, 1)), (s, e) -> {
            float[] a = accumulate ? new float[CpuElementwise.BLOCK] : null, c = accumulate ? new float[CpuElementwise.BLOCK] : null;
            for (int b = s; b < e; b++) {
                int so = srcOff + b * srcStride, d0 = dstOff + b * dstStride;
                if (!accumulate) {
                    D.put(d0, S, so, blockLen); // one memcpy
                    continue;
                }
                for (int j0 = 0; j0 < blockLen; j0 += CpuElementwise.BLOCK) {
                    int len = Math.min(CpuElementwise.BLOCK, blockLen - j0);
                    S.get(so + j0, a, 0, len);
                    D.get(d0 + j0, c, 0, len);
                    for (int j = 0; j < len; j++) c[j] += a[j];
                    D.put(d0 + j0, c, 0, len);
                }
            }
        });
    }

    @Override
    public void im2col(Storage in, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage cols) {
        FloatBuffer X = f(in), C = f(cols);
        int spatial = oh * ow, width = n * spatial;
        // one row of cols per (channel, ky, kx)
        Parallel.forRange(c * kh * kw, 1, (s, e) -> {
            for (int row = s; row < e; row++) {
                int ci = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw;
                int rowBase = row * width;
                for (int img = 0; img < n; img++) {
                    int inBase = (img * c + ci) * h * w, colBase = rowBase + img * spatial;
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = oy * stride - pad + ky;
                        int o = colBase + oy * ow;
                        if (iy < 0 || iy >= h) {
                            for (int ox = 0; ox < ow; ox++) C.put(o + ox, 0f);
                            continue;
                        }
                        for (int ox = 0; ox < ow; ox++) {
                            int ix = ox * stride - pad + kx;
                            C.put(o + ox, ix < 0 || ix >= w ? 0f : X.get(inBase + iy * w + ix));
                        }
                    }
                }
            }
        });
    }

    @Override
    public void col2im(Storage gradCols, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage gradIn) {
        if (gradIn == null) return;
        FloatBuffer C = f(gradCols), GI = f(gradIn);
        int spatial = oh * ow, width = n * spatial;
        // parallel over (image, channel) planes: each plane receives only its own kh·kw rows, in a fixed order
        Parallel.forRange(n * c, 1, (s, e) -> {
            for (int plane = s; plane < e; plane++) {
                int img = plane / c, ci = plane % c, inBase = plane * h * w;
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        int colBase = ((ci * kh + ky) * kw + kx) * width + img * spatial;
                        for (int oy = 0; oy < oh; oy++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= h) continue;
                            for (int ox = 0; ox < ow; ox++) {
                                int ix = ox * stride - pad + kx;
                                if (ix < 0 || ix >= w) continue;
                                int gi = inBase + iy * w + ix;
                                GI.put(gi, GI.get(gi) + C.get(colBase + oy * ow + ox));
                            }
                        }
                    }
            }
        });
    }
}
