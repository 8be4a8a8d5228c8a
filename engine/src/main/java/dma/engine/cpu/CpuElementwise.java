package dma.engine.cpu;

import dma.engine.CounterRng;
import dma.engine.Storage;
import dma.engine.kernels.Elementwise;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

import static dma.engine.cpu.CpuBackend.f;

final class CpuElementwise implements Elementwise {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;
    /** The same backend's reductions (a broadcast's gradient sums rows through them). */
    private final CpuReductions reductions;

    CpuElementwise(Parallel parallel, CpuReductions reductions) {
        this.parallel = parallel;
        this.reductions = reductions;
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] shape) {
        FloatBuffer A = f(a), B = f(b), O = f(out);
        int r = shape.length;
        int[] dense = new int[r];
        for (int i = r - 1, acc = 1; i >= 0; i--) {
            dense[i] = acc;
            acc *= shape[i];
        }
        // the common cases on staged blocks: a dense, b dense or repeating a dense trailing block (a bias, a position embedding)
        int lead = 0;
        while (lead < r && bStrides[lead] == 0) lead++;
        boolean bTrailing = true;
        for (int i = lead; i < r; i++) bTrailing &= bStrides[i] == dense[i];
        if (java.util.Arrays.equals(aStrides, dense) && bTrailing) {
            int n = 1, period = 1;
            for (int i = 0; i < r; i++) n *= shape[i];
            for (int i = lead; i < r; i++) period *= shape[i];
            int bPeriod = period;
            parallel.forRange(n, GRAIN, (s, e) -> {
                float[] x = new float[BLOCK], y = new float[BLOCK];
                for (int blk = s; blk < e; blk += BLOCK) {
                    int len = Math.min(BLOCK, e - blk);
                    A.get(blk, x, 0, len);
                    // b's elements for [blk, blk+len): possibly wrapping around its period
                    for (int done = 0; done < len; ) {
                        int off = (blk + done) % bPeriod, run = Math.min(len - done, bPeriod - off);
                        B.get(off, y, done, run);
                        done += run;
                    }
                    switch (op) {
                        case ADD -> { for (int i = 0; i < len; i++) x[i] += y[i]; }
                        case SUB -> { for (int i = 0; i < len; i++) x[i] -= y[i]; }
                        case MUL -> { for (int i = 0; i < len; i++) x[i] *= y[i]; }
                        case DIV -> { for (int i = 0; i < len; i++) x[i] /= y[i]; }
                    }
                    O.put(blk, x, 0, len);
                }
            });
            return;
        }
        int cols = r == 0 ? 1 : shape[r - 1];
        int rows = 1;
        for (int i = 0; i < r - 1; i++) rows *= shape[i];
        int sa = r == 0 ? 0 : aStrides[r - 1], sb = r == 0 ? 0 : bStrides[r - 1];
        int[] as = aStrides, bs = bStrides;
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            int[] coord = new int[Math.max(r - 1, 0)];
            unravel(s, shape, r - 1, coord);
            for (int row = s; row < e; row++) {
                int ao = 0, bo = 0;
                for (int d = 0; d < r - 1; d++) {
                    ao += coord[d] * as[d];
                    bo += coord[d] * bs[d];
                }
                int oo = row * cols;
                switch (op) {
                    case ADD -> { for (int j = 0; j < cols; j++) O.put(oo + j, A.get(ao + j * sa) + B.get(bo + j * sb)); }
                    case SUB -> { for (int j = 0; j < cols; j++) O.put(oo + j, A.get(ao + j * sa) - B.get(bo + j * sb)); }
                    case MUL -> { for (int j = 0; j < cols; j++) O.put(oo + j, A.get(ao + j * sa) * B.get(bo + j * sb)); }
                    case DIV -> { for (int j = 0; j < cols; j++) O.put(oo + j, A.get(ao + j * sa) / B.get(bo + j * sb)); }
                }
                increment(coord, shape, r - 1);
            }
        });
    }

    /** Coordinates of flat index {@code flat} over the first {@code dims} axes of shape. */
    static void unravel(int flat, int[] shape, int dims, int[] coord) {
        for (int d = dims - 1; d >= 0; d--) {
            coord[d] = flat % shape[d];
            flat /= shape[d];
        }
    }

    static void increment(int[] coord, int[] shape, int dims) {
        for (int d = dims - 1; d >= 0; d--) {
            if (++coord[d] < shape[d]) return;
            coord[d] = 0;
        }
    }

    @Override
    public void scaleChannels(Storage in, Storage scale, Storage out, int outer, int channels, int inner) {
        FloatBuffer X = f(in), S = f(scale), Y = f(out);
        int rowLen = channels * inner;
        parallel.forRange(outer, Math.max(1, GRAIN / Math.max(rowLen, 1)), (s, e) -> {
            for (int o = s; o < e; o++)
                for (int ch = 0, off = o * rowLen; ch < channels; ch++) {
                    float g = S.get(ch);
                    for (int i = 0; i < inner; i++, off++) Y.put(off, X.get(off) * g);
                }
        });
    }

    /** gradScale: one double partial sum per chunk of the outer axis, added up in chunk order. */
    @Override
    public void scaleChannelsBackward(Storage gradOut, Storage in, Storage scale, Storage gradIn, Storage gradScale,
                                      int outer, int channels, int inner) {
        if (gradIn == null && gradScale == null) return;
        FloatBuffer G = f(gradOut), X = f(in), S = f(scale), GI = f(gradIn), GS = f(gradScale);
        int rowLen = channels * inner, grain = Math.max(1, GRAIN / Math.max(rowLen, 1));
        int chunks = parallel.chunks(outer, grain);
        double[][] partial = GS != null ? new double[chunks][channels] : null;
        parallel.forChunks(outer, grain, (chunk, s, e) -> {
            for (int o = s; o < e; o++)
                for (int ch = 0, off = o * rowLen; ch < channels; ch++) {
                    float g = S.get(ch);
                    double acc = 0;
                    for (int i = 0; i < inner; i++, off++) {
                        float dy = G.get(off);
                        if (GI != null) GI.put(off, GI.get(off) + dy * g);
                        if (partial != null) acc += (double) dy * X.get(off);
                    }
                    if (partial != null) partial[chunk][ch] += acc;
                }
        });
        if (GS == null) return;
        for (int ch = 0; ch < channels; ch++) {
            double sum = 0;
            for (int k = 0; k < chunks; k++) sum += partial[k][ch];
            GS.put(ch, GS.get(ch) + (float) sum);
        }
    }

    @Override
    public void reduceBroadcast(Storage src, int[] shape, Storage dst, int[] dstStrides, float alpha) {
        if (dst == null) return;
        FloatBuffer S = f(src), D = f(dst);
        int r = shape.length;
        int[] srcStrides = new int[r];
        for (int i = r - 1, acc = 1; i >= 0; i--) {
            srcStrides[i] = acc;
            acc *= shape[i];
        }
        // the two common cases first: no broadcast (a residual's gradient), and broadcast along leading axes only (a bias)
        int lead = 0;
        while (lead < r && dstStrides[lead] == 0) lead++;
        boolean trailingDense = true;
        for (int i = lead; i < r; i++) trailingDense &= dstStrides[i] == srcStrides[i];
        if (trailingDense) {
            int rows = 1, cols = 1;
            for (int i = 0; i < lead; i++) rows *= shape[i];
            for (int i = lead; i < r; i++) cols *= shape[i];
            if (rows == 1) axpy(alpha, src, dst, cols);
            else reductions.sum(src, dst, 1, rows, cols, alpha, true);
            return;
        }
        // kept axes index dst elements; reduced axes (broadcast, size > 1) are summed over
        int keptCount = 1, reducedCount = 1;
        for (int i = 0; i < r; i++) {
            if (dstStrides[i] != 0) keptCount *= shape[i];
            else reducedCount *= shape[i];
        }
        int kept = keptCount, reduced = reducedCount;
        int[] keptSrc = new int[kept], keptDst = new int[kept], redSrc = new int[reduced];
        fillOffsets(shape, srcStrides, dstStrides, true, keptSrc, keptDst);
        fillOffsets(shape, srcStrides, dstStrides, false, redSrc, null);
        parallel.forRange(kept, Math.max(1, GRAIN / Math.max(reduced, 1)), (s, e) -> {
            for (int j = s; j < e; j++) {
                double acc = 0;
                int base = keptSrc[j];
                for (int q = 0; q < reduced; q++) acc += S.get(base + redSrc[q]);
                int di = keptDst[j];
                D.put(di, D.get(di) + alpha * (float) acc);
            }
        });
    }

    /** Enumerates the offsets of every combination of the kept (or reduced) axes, in row-major order. */
    private static void fillOffsets(int[] shape, int[] srcStrides, int[] dstStrides, boolean keptAxes, int[] srcOut, int[] dstOut) {
        int r = shape.length;
        int[] axes = new int[r];
        int na = 0;
        for (int i = 0; i < r; i++) if ((dstStrides[i] != 0) == keptAxes) axes[na++] = i;
        int[] coord = new int[na];
        for (int idx = 0; idx < srcOut.length; idx++) {
            int so = 0, dO = 0;
            for (int q = 0; q < na; q++) {
                so += coord[q] * srcStrides[axes[q]];
                dO += coord[q] * dstStrides[axes[q]];
            }
            srcOut[idx] = so;
            if (dstOut != null) dstOut[idx] = dO;
            for (int q = na - 1; q >= 0; q--) {
                if (++coord[q] < shape[axes[q]]) break;
                coord[q] = 0;
            }
        }
    }

    /** Elements staged per block: kernels copy a block of a direct buffer into float[] (one memcpy), where the JIT vectorizes. */
    static final int BLOCK = 2048;

    @Override
    public void activation(Activation fn, Storage in, Storage out, int n) {
        FloatBuffer X = f(in), Y = f(out);
        parallel.forRange(n, GRAIN, (s, e) -> {
            float[] x = new float[BLOCK];
            for (int b = s; b < e; b += BLOCK) {
                int len = Math.min(BLOCK, e - b);
                X.get(b, x, 0, len);
                if (fn == Activation.GELU) for (int i = 0; i < len; i++) x[i] = gelu(x[i]);
                else for (int i = 0; i < len; i++) x[i] = Math.max(x[i], 0f);
                Y.put(b, x, 0, len);
            }
        });
    }

    @Override
    public void activationBackward(Activation fn, Storage in, Storage gradOut, Storage gradIn, int n) {
        activationBackward(fn, in, gradOut, gradIn, n, true);
    }

    @Override
    public void activationBackward(Activation fn, Storage in, Storage gradOut, Storage gradIn, int n, boolean accumulate) {
        if (gradIn == null) return;
        FloatBuffer X = f(in), G = f(gradOut), GI = f(gradIn);
        parallel.forRange(n, GRAIN, (s, e) -> {
            float[] x = new float[BLOCK], g = new float[BLOCK], gi = accumulate ? new float[BLOCK] : g;
            for (int b = s; b < e; b += BLOCK) {
                int len = Math.min(BLOCK, e - b);
                X.get(b, x, 0, len);
                G.get(b, g, 0, len);
                if (accumulate) GI.get(b, gi, 0, len);
                if (fn == Activation.GELU) geluBackward(x, g, gi, len, accumulate);
                else if (accumulate) reluBackward(x, g, gi, len);
                else reluMask(x, g, len); // x > 0 ⇔ relu(x) > 0: the same mask
                GI.put(b, gi, 0, len);
            }
        });
    }

    /**
     * gi (+)= g·GELU'(x), GELU'(x) = Φ(x) + x·φ(x), in one pass of vector arithmetic ({@link VectorMath}'s erf and
     * exp; gi may be g when not accumulating); the tail past the last whole vector in scalar form.
     */
    static void geluBackward(float[] x, float[] g, float[] gi, int len, boolean accumulate) {
        int i = 0;
        for (int bound = SPECIES.loopBound(len); i < bound; i += SPECIES.length()) {
            FloatVector xv = FloatVector.fromArray(SPECIES, x, i);
            FloatVector cdf = VectorMath.erf(xv.mul(INV_SQRT2)).add(1f).mul(0.5f);
            FloatVector pdf = VectorMath.expNonPositive(xv.mul(xv).mul(-0.5f));
            FloatVector r = xv.mul(INV_SQRT_2PI).fma(pdf, cdf).mul(FloatVector.fromArray(SPECIES, g, i));
            if (accumulate) r = r.add(FloatVector.fromArray(SPECIES, gi, i));
            r.intoArray(gi, i);
        }
        for (; i < len; i++) {
            float d = g[i] * (0.5f * (1f + erf(x[i] * INV_SQRT2)) + x[i] * INV_SQRT_2PI * expNonPositive(-0.5f * x[i] * x[i]));
            gi[i] = accumulate ? gi[i] + d : d;
        }
    }

    private static final VectorSpecies<Float> SPECIES = VectorMath.S;

    /**
     * gi[i] += x[i] > 0 ? g[i] : 0, as a vector compare and blend. The scalar select compiles to a branch on x86
     * (C2 has no vector form of a float conditional move in Java 17), which ReLU inputs mispredict half the time:
     * it took a third of a ResNet step.
     */
    static void reluBackward(float[] x, float[] g, float[] gi, int len) {
        int i = 0;
        FloatVector zero = FloatVector.zero(SPECIES);
        for (int bound = SPECIES.loopBound(len); i < bound; i += SPECIES.length()) {
            FloatVector xv = FloatVector.fromArray(SPECIES, x, i), gv = FloatVector.fromArray(SPECIES, g, i);
            FloatVector.fromArray(SPECIES, gi, i).add(zero.blend(gv, xv.compare(VectorOperators.GT, 0f))).intoArray(gi, i);
        }
        for (; i < len; i++) gi[i] += x[i] > 0f ? g[i] : 0f;
    }

    /** g[i] = y[i] > 0 ? g[i] : 0 (a ReLU's gradient given its output y), as a vector compare and blend. */
    static void reluMask(float[] y, float[] g, int len) {
        int i = 0;
        FloatVector zero = FloatVector.zero(SPECIES);
        for (int bound = SPECIES.loopBound(len); i < bound; i += SPECIES.length()) {
            FloatVector yv = FloatVector.fromArray(SPECIES, y, i);
            zero.blend(FloatVector.fromArray(SPECIES, g, i), yv.compare(VectorOperators.GT, 0f)).intoArray(g, i);
        }
        for (; i < len; i++) if (!(y[i] > 0f)) g[i] = 0f;
    }

    private static final float INV_SQRT2 = 0.70710677f, INV_SQRT_2PI = 0.3989423f;

    static float gelu(float x) {
        return 0.5f * x * (1f + erf(x * INV_SQRT2));
    }

    /**
     * e^y for y ≤ 0 in float, in multiply-adds only so that loops over it vectorize: e^y = (e^(y/64))^64, the
     * inner factor by its Taylor series to r⁸ (|r| ≤ 1/2), then six squarings. Relative error < 1e-5 (the
     * squarings multiply the rounding of the inner factor by 64). Arguments below −32 give e^−32 ≈ 1.3e-14:
     * GELU's derivative, its one user, multiplies it by x·φ-sized factors, so nothing below that matters.
     */
    static float expNonPositive(float y) {
        float r = Math.max(y, -32f) * (1f / 64);
        float p = 1f + r * (1f + r * (0.5f + r * (1f / 6 + r * (1f / 24 + r * (1f / 120 + r * (1f / 720 + r * (1f / 5040 + r * (1f / 40320))))))));
        p *= p;
        p *= p;
        p *= p;
        p *= p;
        p *= p;
        return p * p;
    }

    /**
     * erf as an odd rational function on [−4, 4] (degree 13 over degree 8), in float: |error| < 4e-7
     * (a few ulp of 1; beyond ±4, erf is ±1 in float). No exp and no branches, so the forward GELU is a
     * short run of multiply-adds and one division per element.
     */
    static float erf(float x) {
        float c = Math.min(4f, Math.max(-4f, x)), x2 = c * c; // min/max, not branches: the JIT vectorizes them
        float p = -2.72614225801306e-10f;
        p = p * x2 + 2.77068142495902e-08f;
        p = p * x2 - 2.10102402082508e-06f;
        p = p * x2 - 5.69250639462346e-05f;
        p = p * x2 - 7.34990630326855e-04f;
        p = p * x2 - 2.95459980854025e-03f;
        p = p * x2 - 1.60960333262415e-02f;
        float q = -1.45660718464996e-05f;
        q = q * x2 - 2.13374055278905e-04f;
        q = q * x2 - 1.68282697438203e-03f;
        q = q * x2 - 7.37332916720468e-03f;
        q = q * x2 - 1.42647390514189e-02f;
        return c * p / q;
    }

    @Override
    public void scale(Storage in, Storage out, float alpha, int n) {
        FloatBuffer X = f(in), Y = f(out);
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) Y.put(i, alpha * X.get(i));
        });
    }

    @Override
    public void axpy(float alpha, Storage x, Storage y, int n) {
        if (y == null) return;
        FloatBuffer X = f(x), Y = f(y);
        parallel.forRange(n, GRAIN, (s, e) -> {
            float[] a = new float[BLOCK], c = new float[BLOCK];
            for (int b = s; b < e; b += BLOCK) {
                int len = Math.min(BLOCK, e - b);
                X.get(b, a, 0, len);
                Y.get(b, c, 0, len);
                for (int i = 0; i < len; i++) c[i] += alpha * a[i];
                Y.put(b, c, 0, len);
            }
        });
    }

    @Override
    public void fill(Storage out, int offset, int n, float value) {
        FloatBuffer Y = f(out);
        for (int i = 0; i < n; i++) Y.put(offset + i, value);
    }

    @Override
    public void dropout(Storage in, Storage out, int n, float p, long seed) {
        FloatBuffer X = f(in), Y = f(out);
        float keepScale = 1f / (1f - p);
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) Y.put(i, CounterRng.uniform(seed, i) >= p ? X.get(i) * keepScale : 0f);
        });
    }

    @Override
    public void dropoutBackward(Storage gradOut, Storage gradIn, int n, float p, long seed) {
        if (gradIn == null) return;
        FloatBuffer G = f(gradOut), GI = f(gradIn);
        float keepScale = 1f / (1f - p);
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) if (CounterRng.uniform(seed, i) >= p) GI.put(i, GI.get(i) + G.get(i) * keepScale);
        });
    }

    @Override
    public void dropPath(Storage in, Storage out, int rows, int rowLen, float p, long seed) {
        FloatBuffer X = f(in), Y = f(out);
        float keepScale = 1f / (1f - p);
        parallel.forRange(rows, 1, (s, e) -> {
            for (int r = s; r < e; r++) {
                float k = CounterRng.uniform(seed, r) >= p ? keepScale : 0f;
                for (int i = r * rowLen, end = i + rowLen; i < end; i++) Y.put(i, X.get(i) * k);
            }
        });
    }

    @Override
    public void dropPathBackward(Storage gradOut, Storage gradIn, int rows, int rowLen, float p, long seed) {
        if (gradIn == null) return;
        FloatBuffer G = f(gradOut), GI = f(gradIn);
        float keepScale = 1f / (1f - p);
        parallel.forRange(rows, 1, (s, e) -> {
            for (int r = s; r < e; r++) {
                if (CounterRng.uniform(seed, r) < p) continue;
                for (int i = r * rowLen, end = i + rowLen; i < end; i++) GI.put(i, GI.get(i) + G.get(i) * keepScale);
            }
        });
    }

    @Override
    public void castToBf16(Storage in, Storage out, int n) {
        FloatBuffer X = f(in);
        ShortBuffer Y = ((CpuStorage) out).shorts();
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) Y.put(i, toBf16(X.get(i)));
        });
    }

    @Override
    public void castToF32(Storage in, Storage out, int n) {
        ShortBuffer X = ((CpuStorage) in).shorts();
        FloatBuffer Y = f(out);
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) Y.put(i, Float.intBitsToFloat((X.get(i) & 0xFFFF) << 16));
        });
    }

    /** Round to nearest even; NaN stays a (quiet) NaN with its sign. */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x0040);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    @Override
    public void randomUniform(Storage out, int n, long seed, float low, float high) {
        FloatBuffer Y = f(out);
        float span = high - low;
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) Y.put(i, low + span * CounterRng.uniform(seed, i));
        });
    }

    @Override
    public void randomNormal(Storage out, int n, long seed, float mean, float std, float low, float high) {
        FloatBuffer Y = f(out);
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                long counter = i;
                float v = (float) (mean + std * CounterRng.normal(seed, counter));
                while (v < low || v > high) {
                    counter += n;
                    v = (float) (mean + std * CounterRng.normal(seed, counter));
                }
                Y.put(i, v);
            }
        });
    }
}
