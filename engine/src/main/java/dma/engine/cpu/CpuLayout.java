package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Layout;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

final class CpuLayout implements Layout {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuLayout(Parallel parallel) {
        this.parallel = parallel;
    }

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
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
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
        parallel.forRange(blocks, Math.max(1, GRAIN / Math.max(blockLen, 1)), (s, e) -> {
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
    public void im2col(Storage in, int inOff, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage cols) {
        FloatBuffer X = f(in), C = f(cols);
        int plane = h * w, spatial = oh * ow, width = n * spatial;
        // Per (channel, image): the input plane is read once into an array, each of its kh·kw rows of cols is built
        // in an array and written with one bulk copy. Element-wise buffer access made this half a ResNet step.
        parallel.forRange(c * n, 1, (s, e) -> {
            float[] x = new float[plane], row = new float[spatial];
            for (int task = s; task < e; task++) {
                int ci = task / n, img = task % n;
                X.get(inOff + (img * c + ci) * plane, x, 0, plane);
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        if (sameShift(h, w, kh, kw, stride, pad, oh, ow)) {
                            shiftedPlane(x, row, h, w, ky - pad, kx - pad);
                            C.put(((ci * kh + ky) * kw + kx) * width + img * spatial, row, 0, spatial);
                            continue;
                        }
                        for (int oy = 0; oy < oh; oy++) {
                            int iy = oy * stride - pad + ky, o = oy * ow;
                            if (iy < 0 || iy >= h) {
                                java.util.Arrays.fill(row, o, o + ow, 0f);
                                continue;
                            }
                            // output columns whose input column lies inside the image: ox0 ≤ ox < ox1
                            int ox0 = Math.min(ow, ceilDiv(pad - kx, stride)), ox1 = Math.max(ox0, Math.min(ow, ceilDiv(w + pad - kx, stride)));
                            java.util.Arrays.fill(row, o, o + ox0, 0f);
                            java.util.Arrays.fill(row, o + ox1, o + ow, 0f);
                            int src = iy * w - pad + kx;
                            if (stride == 1) System.arraycopy(x, src + ox0, row, o + ox0, ox1 - ox0);
                            else for (int ox = ox0; ox < ox1; ox++) row[o + ox] = x[src + ox * stride];
                        }
                        C.put(((ci * kh + ky) * kw + kx) * width + img * spatial, row, 0, spatial);
                    }
            }
        });
    }

    @Override
    public void col2im(Storage gradCols, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage gradIn, int gradInOff) {
        if (gradIn == null) return;
        FloatBuffer C = f(gradCols), GI = f(gradIn);
        int plane = h * w, spatial = oh * ow, width = n * spatial;
        // parallel over (image, channel) planes: each plane receives only its own kh·kw rows, in a fixed order
        parallel.forRange(n * c, 1, (s, e) -> {
            float[] g = new float[plane], row = new float[spatial];
            for (int p = s; p < e; p++) {
                int img = p / c, ci = p % c;
                GI.get(gradInOff + p * plane, g, 0, plane);
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        C.get(((ci * kh + ky) * kw + kx) * width + img * spatial, row, 0, spatial);
                        if (sameShift(h, w, kh, kw, stride, pad, oh, ow)) {
                            addShiftedPlane(row, g, h, w, ky - pad, kx - pad);
                            continue;
                        }
                        for (int oy = 0; oy < oh; oy++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= h) continue;
                            int ox0 = Math.min(ow, ceilDiv(pad - kx, stride)), ox1 = Math.max(ox0, Math.min(ow, ceilDiv(w + pad - kx, stride)));
                            int dst = iy * w - pad + kx, o = oy * ow;
                            if (stride == 1) for (int ox = ox0; ox < ox1; ox++) g[dst + ox] += row[o + ox];
                            else for (int ox = ox0; ox < ox1; ox++) g[dst + ox * stride] += row[o + ox];
                        }
                    }
                GI.put(gradInOff + p * plane, g, 0, plane);
            }
        });
    }

    /**
     * Stride 1 with "same" padding (output plane = input plane, 3×3 pad 1 say): each row of cols is then the input
     * plane shifted by (dy, dx) with the rows and columns that fall outside zeroed, so one bulk copy builds it
     * instead of one per output row.
     */
    private static boolean sameShift(int h, int w, int kh, int kw, int stride, int pad, int oh, int ow) {
        return stride == 1 && oh == h && ow == w;
    }

    /** row[y, x] = plane[y + dy, x + dx], 0 where that lies outside the h × w plane. */
    private static void shiftedPlane(float[] plane, float[] row, int h, int w, int dy, int dx) {
        int size = h * w, shift = dy * w + dx;
        int y0 = Math.max(0, -dy), y1 = Math.min(h, h - dy); // rows whose source row exists
        int s0 = Math.max(y0 * w, -shift), s1 = Math.max(s0, Math.min(y1 * w, size - shift));
        java.util.Arrays.fill(row, 0, s0, 0f);
        System.arraycopy(plane, s0 + shift, row, s0, s1 - s0);
        java.util.Arrays.fill(row, s1, size, 0f);
        zeroWrappedColumns(row, w, y0, y1, dx); // a shifted run wraps into the neighbouring row at the edges
    }

    /** The adjoint of {@link #shiftedPlane}: plane[y + dy, x + dx] += row[y, x] where that lies inside (row is scratch). */
    private static void addShiftedPlane(float[] row, float[] plane, int h, int w, int dy, int dx) {
        int size = h * w, shift = dy * w + dx;
        int y0 = Math.max(0, -dy), y1 = Math.min(h, h - dy);
        int s0 = Math.max(y0 * w, -shift), s1 = Math.max(s0, Math.min(y1 * w, size - shift));
        zeroWrappedColumns(row, w, y0, y1, dx);
        for (int i = s0; i < s1; i++) plane[i + shift] += row[i];
    }

    /** Zeroes, in rows [y0, y1), the columns x whose source column x + dx is outside [0, w). */
    private static void zeroWrappedColumns(float[] row, int w, int y0, int y1, int dx) {
        int from = dx > 0 ? Math.max(0, w - dx) : 0, to = dx > 0 ? w : Math.min(w, -dx);
        if (dx == 0) return;
        for (int y = y0; y < y1; y++) java.util.Arrays.fill(row, y * w + from, y * w + to, 0f);
    }

    /** ⌈a / b⌉ for b > 0 and any sign of a (0 for a ≤ 0 is not implied: callers clamp). */
    private static int ceilDiv(int a, int b) {
        return Math.max(0, -Math.floorDiv(-a, b));
    }
}
