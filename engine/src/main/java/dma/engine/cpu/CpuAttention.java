package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Attention;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * Attention with the (batch × head) entry as the unit of parallel work, each entry computed whole by one thread in
 * Vector API loops over small staged arrays ({@link Entry}): at the head dims (12–64) and sequence lengths (17–200)
 * of the models here, an entry's q, k, v and t×t scores fit in the L1/L2 cache, and the per-call costs of sgemm on
 * 50×16 operands (and its three passes over the scores) were most of the time. Every entry runs the same arithmetic
 * in the same order whatever the thread count.
 *
 * <p>Two layouts: [bh, t, d] parts at offsets ({@link #attention}), and the token-major layouts of the linears
 * around multi-head attention ({@link #multiHead}): q, k, v read in place from the qkv projection's [b, t, 3, h, d],
 * the output written as the output projection's [b, t, h, d], so no permute copies are made either way. There, a
 * thread stages each image's qkv rows once (one contiguous read) for all of its heads.
 */
final class CpuAttention implements Attention {
    /** Multiply-adds below which an entry is not worth a thread of its own. */
    private static final long GRAIN_WORK = 1L << 16;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;
    /**
     * Each chunk's arrays, kept from call to call of the same shape: a training step makes tens of MB of them, which
     * as garbage made the JVM grow its heap (and the resident set) by hundreds of MB for its young collections.
     */
    private final WorkPool pool = new WorkPool();

    /** A pool key: the entry point and the shape its arrays are sized for. */
    private record Key(String kernel, int t, int d, int heads) {}

    /** One chunk's arrays: an {@link Entry} and staging arrays of the sizes the kernel asked for. */
    private static final class Work {
        final Entry entry;
        final float[][] arrays;

        Work(int t, int d, int... sizes) {
            entry = new Entry(t, d);
            arrays = new float[sizes.length][];
            for (int i = 0; i < sizes.length; i++) arrays[i] = new float[sizes[i]];
        }
    }

    CpuAttention(Parallel parallel) {
        this.parallel = parallel;
    }

    // ---------------------------------------------------------------- [bh, t, d] at offsets

    @Override
    public void attention(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage out, Storage probs,
                          int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0) return;
        FloatBuffer Q = f(q), K = f(k), V = f(v), O = f(out), P = f(probs);
        int td = t * d, tt = t * t;
        Key key = new Key("attention", t, d, 0);
        parallel.forRange(bh, grain(t, d), (s, e) -> {
            Work work = pool.take(key, () -> new Work(t, d, td, td, td, td, tt));
            Entry w = work.entry;
            float[] qa = work.arrays[0], ka = work.arrays[1], va = work.arrays[2], oa = work.arrays[3], pa = work.arrays[4];
            for (int i = s; i < e; i++) {
                int x = i * td;
                Q.get(qOff + x, qa, 0, td);
                K.get(kOff + x, ka, 0, td);
                V.get(vOff + x, va, 0, td);
                w.forward(qa, 0, d, ka, 0, d, va, 0, d, scale, pa, 0, oa, 0, d);
                O.put(x, oa, 0, td);
                P.put(i * tt, pa, 0, tt);
            }
            pool.give(key, work);
        });
    }

    @Override
    public void attentionBackward(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage probs, Storage gradOut,
                                  Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0 || (gradQ == null && gradK == null && gradV == null)) return;
        FloatBuffer Q = f(q), K = f(k), V = f(v), P = f(probs), G = f(gradOut), GQ = f(gradQ), GK = f(gradK), GV = f(gradV);
        int td = t * d, tt = t * t;
        Key key = new Key("attentionBackward", t, d, 0);
        parallel.forRange(bh, grain(t, d), (s, e) -> {
            Work work = pool.take(key, () -> new Work(t, d, td, td, td, td, tt, td, td, td, td));
            Entry w = work.entry;
            float[][] a = work.arrays;
            float[] qa = a[0], ka = a[1], va = a[2], ga = a[3], pa = a[4], gq = a[5], gk = a[6], gv = a[7], acc = a[8];
            for (int i = s; i < e; i++) {
                int x = i * td;
                Q.get(qOff + x, qa, 0, td);
                K.get(kOff + x, ka, 0, td);
                V.get(vOff + x, va, 0, td);
                G.get(x, ga, 0, td);
                P.get(i * tt, pa, 0, tt);
                w.backward(qa, 0, d, ka, 0, d, va, 0, d, pa, 0, ga, 0, d, scale,
                        GQ != null ? gq : null, 0, d, GK != null ? gk : null, 0, d, GV != null ? gv : null, 0, d, false);
                // the contract adds, one gradient after the other: q, k and v may share one buffer, even one offset
                addTo(GQ, qOff + x, gq, acc, td);
                addTo(GK, kOff + x, gk, acc, td);
                addTo(GV, vOff + x, gv, acc, td);
            }
            pool.give(key, work);
        });
    }

    // ---------------------------------------------------------------- token-major multi-head layouts

    @Override
    public void multiHead(Storage qkv, Storage out, Storage probs, int b, int t, int heads, int d, float scale) {
        if (b == 0 || t == 0 || heads == 0) return;
        FloatBuffer X = f(qkv), O = f(out), P = f(probs);
        int dm = heads * d, row = 3 * dm, tt = t * t;
        Key key = new Key("multiHead", t, d, heads);
        parallel.forRange(b * heads, grain(t, d), (s, e) -> {
            Work work = pool.take(key, () -> new Work(t, d, t * row, t * dm, tt));
            Entry w = work.entry;
            float[] blk = work.arrays[0], ob = work.arrays[1], pa = work.arrays[2];
            for (int i = s; i < e; ) {
                int img = i / heads, h0 = i % heads, h1 = Math.min(heads, h0 + (e - i));
                X.get(img * t * row, blk, 0, t * row);
                for (int h = h0; h < h1; h++) {
                    w.forward(blk, h * d, row, blk, dm + h * d, row, blk, 2 * dm + h * d, row, scale, pa, 0, ob, h * d, dm);
                    P.put((img * heads + h) * tt, pa, 0, tt);
                }
                // only this chunk's heads: another thread may own the image's other heads
                int span = (h1 - h0) * d;
                for (int r = 0; r < t; r++) O.put((img * t + r) * dm + h0 * d, ob, r * dm + h0 * d, span);
                i += h1 - h0;
            }
            pool.give(key, work);
        });
    }

    @Override
    public void multiHeadBackward(Storage qkv, Storage probs, Storage gradOut, Storage gradQkv, boolean accumulate,
                                  int b, int t, int heads, int d, float scale) {
        if (b == 0 || t == 0 || heads == 0 || gradQkv == null) return;
        FloatBuffer X = f(qkv), P = f(probs), G = f(gradOut), GX = f(gradQkv);
        int dm = heads * d, row = 3 * dm, tt = t * t;
        Key key = new Key("multiHeadBackward", t, d, heads);
        parallel.forRange(b * heads, grain(t, d), (s, e) -> {
            Work work = pool.take(key, () -> new Work(t, d, t * row, t * row, t * dm, tt));
            Entry w = work.entry;
            float[] blk = work.arrays[0], gblk = work.arrays[1], go = work.arrays[2], pa = work.arrays[3];
            for (int i = s; i < e; ) {
                int img = i / heads, h0 = i % heads, h1 = Math.min(heads, h0 + (e - i));
                X.get(img * t * row, blk, 0, t * row);
                G.get(img * t * dm, go, 0, t * dm);
                int span = (h1 - h0) * d;
                if (accumulate)
                    for (int r = 0; r < t; r++)
                        for (int part = 0; part < 3; part++) {
                            int at = r * row + part * dm + h0 * d;
                            GX.get(img * t * row + at, gblk, at, span);
                        }
                for (int h = h0; h < h1; h++) {
                    P.get((img * heads + h) * tt, pa, 0, tt);
                    int c = h * d;
                    w.backward(blk, c, row, blk, dm + c, row, blk, 2 * dm + c, row, pa, 0, go, c, dm, scale,
                            gblk, c, row, gblk, dm + c, row, gblk, 2 * dm + c, row, accumulate);
                }
                for (int r = 0; r < t; r++)
                    for (int part = 0; part < 3; part++) {
                        int at = r * row + part * dm + h0 * d;
                        GX.put(img * t * row + at, gblk, at, span);
                    }
                i += h1 - h0;
            }
            pool.give(key, work);
        });
    }

    /** G[off, off + n) += x[0, n), through the work array acc (G null: nothing). */
    private static void addTo(FloatBuffer G, int off, float[] x, float[] acc, int n) {
        if (G == null) return;
        G.get(off, acc, 0, n);
        for (int i = 0; i < n; i++) acc[i] += x[i];
        G.put(off, acc, 0, n);
    }

    private static int grain(int t, int d) {
        long work = Math.max(1L, (long) t * t * d);
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, GRAIN_WORK / work));
    }

    /**
     * One thread's work arrays for entries of t tokens and head dim d, and the arithmetic of one entry. Rows are
     * padded to whole vectors: tp = t and dp = d rounded up to the vector length, the padding zero: no call writes
     * it (only whole-row outputs, o and the scores, are written past d or t), so an Entry kept for the next call of
     * the same shape ({@link WorkPool}) starts as a new one would.
     * Matrices read from the caller's arrays are (array, offset of row 0, row stride), d values per row.
     */
    static final class Entry {
        final int t, d, tp, dp;
        /** kᵀ (forward) or vᵀ (backward), [d, tp]. */
        private final float[] xT;
        /** Scores, then probabilities (forward) or their gradient (backward), [t, tp]. */
        private final float[] sc;
        /** Backward only: the saved probabilities, [t, tp]. */
        private float[] pr;
        /** Row-padded copies [t, dp]: v (forward), q, k, dO (backward); and an output [t, dp]. */
        private final float[] a, b, c, o;
        private final VectorMask<Float> tail;
        private static final FloatVector NEG = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);

        Entry(int t, int d) {
            this.t = t;
            this.d = d;
            tp = Math.max(L, (t + L - 1) / L * L);
            dp = Math.max(L, (d + L - 1) / L * L);
            xT = new float[d * tp];
            sc = new float[t * tp];
            a = new float[t * dp];
            b = new float[t * dp];
            c = new float[t * dp];
            o = new float[t * dp];
            tail = S.indexInRange(tp - L, t);
        }

        /** out = softmax(scale·q·kᵀ)·v; the probabilities [t, t] to pa at po. */
        void forward(float[] qa, int qo, int qs, float[] ka, int ko, int ks, float[] va, int vo, int vs, float scale,
                     float[] pa, int po, float[] oa, int oo, int os) {
            transpose(ka, ko, ks, xT);
            pad(va, vo, vs, a);
            scores(qa, qo, qs, xT, scale, sc);
            for (int i = 0; i < t; i++) softmaxRow(sc, i * tp);
            for (int i = 0; i < t; i++) System.arraycopy(sc, i * tp, pa, po + i * t, t);
            rowsTimes(sc, a, o);
            unpad(o, oa, oo, os, false);
        }

        /**
         * The gradients of {@link #forward} given its probabilities p and the output gradient g: dq = scale·dS·k,
         * dk = scale·dSᵀ·q, dv = pᵀ·g with dS = p∘(g·vᵀ − rowsum(p∘g·vᵀ)). Each gradient (array null: skipped) is
         * added to its array when {@code accumulate}, else written.
         */
        void backward(float[] qa, int qo, int qs, float[] ka, int ko, int ks, float[] va, int vo, int vs,
                      float[] pa, int po, float[] ga, int go, int gs, float scale,
                      float[] gq, int gqo, int gqs, float[] gk, int gko, int gks, float[] gv, int gvo, int gvs, boolean accumulate) {
            if (pr == null) pr = new float[t * tp];
            for (int i = 0; i < t; i++) System.arraycopy(pa, po + i * t, pr, i * tp, t);
            pad(ga, go, gs, c); // dO
            if (gv != null) {
                colsTimes(pr, c, o); // dv = pᵀ·dO
                unpad(o, gv, gvo, gvs, accumulate);
            }
            if (gq == null && gk == null) return;
            transpose(va, vo, vs, xT);
            scores(c, 0, dp, xT, 1f, sc); // dP = dO·vᵀ (padding columns 0)
            for (int i = 0; i < t; i++) softmaxBackwardRow(pr, sc, i * tp, scale);
            if (gq != null) {
                pad(ka, ko, ks, b);
                rowsTimes(sc, b, o); // dq = dS·k
                unpad(o, gq, gqo, gqs, accumulate);
            }
            if (gk != null) {
                pad(qa, qo, qs, a);
                colsTimes(sc, a, o); // dk = dSᵀ·q
                unpad(o, gk, gko, gks, accumulate);
            }
        }

        /** xT[c·tp + j] = x[j][c]. */
        private void transpose(float[] x, int xo, int xs, float[] xT) {
            for (int j = 0; j < t; j++)
                for (int k = 0, at = xo + j * xs; k < d; k++) xT[k * tp + j] = x[at + k];
        }

        /** dst [t, dp] = x's rows. */
        private void pad(float[] x, int xo, int xs, float[] dst) {
            for (int j = 0; j < t; j++) System.arraycopy(x, xo + j * xs, dst, j * dp, d);
        }

        /** x's rows (+)= src [t, dp]. */
        private void unpad(float[] src, float[] x, int xo, int xs, boolean accumulate) {
            if (!accumulate) {
                for (int j = 0; j < t; j++) System.arraycopy(src, j * dp, x, xo + j * xs, d);
                return;
            }
            for (int j = 0; j < t; j++)
                for (int k = 0, at = xo + j * xs, from = j * dp; k < d; k++) x[at + k] += src[from + k];
        }

        /** y[i][·] = alpha·Σ_k x[i][k]·bT[k][·] over the padded columns (x: d values per row), then the padding masked to −∞ when alpha ≠ 1. */
        private void scores(float[] x, int xo, int xs, float[] bT, float alpha, float[] y) {
            int i = 0;
            for (; i + 4 <= t; i += 4) {
                int x0 = xo + i * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
                for (int jv = 0; jv < tp; jv += L) {
                    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                    for (int k = 0; k < d; k++) {
                        FloatVector kv = FloatVector.fromArray(S, bT, k * tp + jv);
                        a0 = kv.fma(FloatVector.broadcast(S, x[x0 + k]), a0);
                        a1 = kv.fma(FloatVector.broadcast(S, x[x1 + k]), a1);
                        a2 = kv.fma(FloatVector.broadcast(S, x[x2 + k]), a2);
                        a3 = kv.fma(FloatVector.broadcast(S, x[x3 + k]), a3);
                    }
                    store(a0, alpha, y, i * tp + jv, jv);
                    store(a1, alpha, y, (i + 1) * tp + jv, jv);
                    store(a2, alpha, y, (i + 2) * tp + jv, jv);
                    store(a3, alpha, y, (i + 3) * tp + jv, jv);
                }
            }
            for (; i < t; i++) {
                int x0 = xo + i * xs;
                for (int jv = 0; jv < tp; jv += L) {
                    FloatVector a0 = FloatVector.zero(S);
                    for (int k = 0; k < d; k++) a0 = FloatVector.fromArray(S, bT, k * tp + jv).fma(FloatVector.broadcast(S, x[x0 + k]), a0);
                    store(a0, alpha, y, i * tp + jv, jv);
                }
            }
        }

        /** Scores (alpha ≠ 1, the forward's) are scaled and their padding set to −∞; dP (alpha = 1) is stored as is. */
        private void store(FloatVector v, float alpha, float[] y, int at, int jv) {
            if (alpha != 1f) {
                v = v.mul(alpha);
                if (jv + L > t) v = NEG.blend(v, tail);
            }
            v.intoArray(y, at);
        }

        /** y[i] = Σ_{j<t} w[i][j]·x[j] for x, y [t, dp] and w [t, tp]. */
        private void rowsTimes(float[] w, float[] x, float[] y) {
            int i = 0;
            for (; i + 4 <= t; i += 4) {
                int w0 = i * tp, w1 = w0 + tp, w2 = w1 + tp, w3 = w2 + tp;
                for (int cv = 0; cv < dp; cv += L) {
                    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                    for (int j = 0; j < t; j++) {
                        FloatVector xv = FloatVector.fromArray(S, x, j * dp + cv);
                        a0 = xv.fma(FloatVector.broadcast(S, w[w0 + j]), a0);
                        a1 = xv.fma(FloatVector.broadcast(S, w[w1 + j]), a1);
                        a2 = xv.fma(FloatVector.broadcast(S, w[w2 + j]), a2);
                        a3 = xv.fma(FloatVector.broadcast(S, w[w3 + j]), a3);
                    }
                    a0.intoArray(y, i * dp + cv);
                    a1.intoArray(y, (i + 1) * dp + cv);
                    a2.intoArray(y, (i + 2) * dp + cv);
                    a3.intoArray(y, (i + 3) * dp + cv);
                }
            }
            for (; i < t; i++) {
                int w0 = i * tp;
                for (int cv = 0; cv < dp; cv += L) {
                    FloatVector a0 = FloatVector.zero(S);
                    for (int j = 0; j < t; j++) a0 = FloatVector.fromArray(S, x, j * dp + cv).fma(FloatVector.broadcast(S, w[w0 + j]), a0);
                    a0.intoArray(y, i * dp + cv);
                }
            }
        }

        /** y[j] = Σ_{i<t} w[i][j]·x[i] for x, y [t, dp] and w [t, tp]. */
        private void colsTimes(float[] w, float[] x, float[] y) {
            int j = 0;
            for (; j + 4 <= t; j += 4) {
                for (int cv = 0; cv < dp; cv += L) {
                    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                    for (int i = 0; i < t; i++) {
                        FloatVector xv = FloatVector.fromArray(S, x, i * dp + cv);
                        int wi = i * tp + j;
                        a0 = xv.fma(FloatVector.broadcast(S, w[wi]), a0);
                        a1 = xv.fma(FloatVector.broadcast(S, w[wi + 1]), a1);
                        a2 = xv.fma(FloatVector.broadcast(S, w[wi + 2]), a2);
                        a3 = xv.fma(FloatVector.broadcast(S, w[wi + 3]), a3);
                    }
                    a0.intoArray(y, j * dp + cv);
                    a1.intoArray(y, (j + 1) * dp + cv);
                    a2.intoArray(y, (j + 2) * dp + cv);
                    a3.intoArray(y, (j + 3) * dp + cv);
                }
            }
            for (; j < t; j++)
                for (int cv = 0; cv < dp; cv += L) {
                    FloatVector a0 = FloatVector.zero(S);
                    for (int i = 0; i < t; i++) a0 = FloatVector.fromArray(S, x, i * dp + cv).fma(FloatVector.broadcast(S, w[i * tp + j]), a0);
                    a0.intoArray(y, j * dp + cv);
                }
        }

        /**
         * The row at off of s, padded with −∞, softmaxed in place (the padding becomes 0); e^x by {@link VectorMath},
         * whose bits do not depend on whether the JIT has compiled the loop yet.
         */
        private void softmaxRow(float[] s, int off) {
            FloatVector mx = FloatVector.fromArray(S, s, off);
            for (int jv = L; jv < tp; jv += L) mx = mx.max(FloatVector.fromArray(S, s, off + jv));
            FloatVector m = FloatVector.broadcast(S, mx.reduceLanes(VectorOperators.MAX)), sum = FloatVector.zero(S);
            for (int jv = 0; jv < tp; jv += L) {
                FloatVector ev = VectorMath.expNonPositive(FloatVector.fromArray(S, s, off + jv).sub(m));
                if (jv + L > t) ev = FloatVector.zero(S).blend(ev, tail); // the −∞ padding
                sum = sum.add(ev);
                ev.intoArray(s, off + jv);
            }
            float inv = 1f / sum.reduceLanes(VectorOperators.ADD);
            for (int jv = 0; jv < tp; jv += L) FloatVector.fromArray(S, s, off + jv).mul(inv).intoArray(s, off + jv);
        }

        /** dP's row at off (of s) becomes scale·p∘(dP − Σ p∘dP), p the probabilities' row at the same offset. */
        private void softmaxBackwardRow(float[] p, float[] s, int off, float scale) {
            FloatVector acc = FloatVector.zero(S);
            for (int jv = 0; jv < tp; jv += L)
                acc = FloatVector.fromArray(S, p, off + jv).fma(FloatVector.fromArray(S, s, off + jv), acc);
            FloatVector dot = FloatVector.broadcast(S, acc.reduceLanes(VectorOperators.ADD));
            for (int jv = 0; jv < tp; jv += L) {
                FloatVector pv = FloatVector.fromArray(S, p, off + jv);
                FloatVector.fromArray(S, s, off + jv).sub(dot).mul(pv).mul(scale).intoArray(s, off + jv);
            }
        }
    }
}
