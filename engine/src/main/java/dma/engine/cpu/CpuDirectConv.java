package dma.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Stride-1 dense convolution computed directly from zero-bordered copies of each image, with register-blocked
 * Vector API multiply-adds: no im2col, so each activation is read from memory once per pass instead of kh·kw times.
 *
 * <p>The trick (the same one the depthwise stencil uses) is to compute the output in the input's bordered row pitch
 * pw = w + 2·padW: output position i = oy·pw + ox reads input position i + ky·pw + kx for tap (ky, kx), so every
 * tap is a contiguous, shifted run over all output rows at once (columns ow..pw−1 of each row are scratch and dropped).
 * A block of {@link #OB} output channels × {@link #PB} vectors of positions stays in registers while the loop runs
 * over input channels and taps: per tap, PB vector loads and OB weight broadcasts feed OB·PB fused multiply-adds.
 *
 * <p>The input gradient is the same correlation of the output gradient, bordered by kh−1−padH (kw−1−padW), with the
 * weight flipped and its channel axes swapped. The weight gradient dW[o, c, t] = Σ dY[o, i]·x[c, i + offset(t)] runs
 * 8 output channels × 3 taps in registers, each a vector of input channels read from x transposed to [position][channel]:
 * the same register block as the forward, with the sum over positions in the accumulators (no lane reductions).
 *
 * <p>Threads take images (forward) or blocks of images (backward) as they come free, which evens out a thread that
 * starts late or runs slow; each block keeps its own weight-gradient sums, added in block order, so every result is
 * the same whichever thread ran what, and for any thread count.
 */
final class CpuDirectConv {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int V = S.length();
    /** Output channels per register block (forward and input gradient). */
    private static final int OB = 8;
    /** Blocks of images the backward hands out (each with its own weight-gradient sums). */
    private static final int BLOCKS = 16;
    /** Vectors of output positions per register block. */
    private static final int PB = 3;
    private static final int STEP = PB * V;
    /** Weight gradient: output channels × taps per register block (each a vector of input channels). */
    private static final int GO = OB, GT = 3;
    private static final FloatVector ZERO = FloatVector.zero(S);

    private CpuDirectConv() {}

    /** The bordered layout of one convolution: input [c, h, w] with padding, output [o, oh, ow] in pitch pw. */
    record Geometry(int c, int h, int w, int o, int kh, int kw, int padH, int padW) {
        int ph() { return h + 2 * padH; }
        int pw() { return w + 2 * padW; }
        int oh() { return ph() - kh + 1; }
        int ow() { return pw() - kw + 1; }
        /** Floats of one bordered input plane. */
        int plane() { return ph() * pw(); }
        /** Output positions in pitch pw, from (0, 0) to (oh−1, ow−1). */
        int len() { return (oh() - 1) * pw() + ow(); }
        /** len rounded up to whole register blocks: the floats of one output plane in pitch pw. */
        int span() { return (len() + STEP - 1) / STEP * STEP; }
        /** The offset of tap (ky, kx) in the bordered input, for each tap in row-major order. */
        int[] offsets() {
            int[] offs = new int[kh * kw];
            for (int t = 0; t < offs.length; t++) offs[t] = (t / kw) * pw() + t % kw;
            return offs;
        }
        /** For each (input channel, tap), channel-major, its offset in the bordered planes: ch·plane + offsets()[t]. */
        int[] channelTaps() {
            int[] offs = offsets(), at = new int[c * offs.length];
            for (int ch = 0, j = 0; ch < c; ch++)
                for (int off : offs) at[j++] = ch * plane() + off;
            return at;
        }
        /** The geometry whose correlation gives the input gradient: input dY [o, oh, ow], output [c, h, w]. */
        Geometry transposed() {
            return new Geometry(o, oh(), ow(), c, kh, kw, kh - 1 - padH, kw - 1 - padW);
        }
    }

    /** Whether the direct path handles this convolution: stride 1 and padding within the kernel. */
    static boolean supports(int kh, int kw, int stride, int pad) {
        return stride == 1 && pad <= kh - 1 && pad <= kw - 1;
    }

    /** out [n, o, oh, ow] = x [n, c, h, w] ⋆ weight [o, c, kh, kw] (stride 1, zero padding). */
    static void forward(FloatBuffer X, FloatBuffer W, FloatBuffer Y, int n, Geometry g) {
        Correlation corr = new Correlation(g, packWeights(W, g.o(), g.c(), g.kh() * g.kw(), false));
        int inImage = g.c() * g.h() * g.w(), outImage = g.o() * g.oh() * g.ow();
        AtomicInteger next = new AtomicInteger();
        Parallel.forRange(n, 1, (s, e) -> {
            Correlation.Work work = corr.work();
            float[] image = new float[inImage], out = new float[outImage];
            for (int img; (img = next.getAndIncrement()) < n; ) { // images are independent: taken as threads come free
                X.get(img * inImage, image, 0, inImage);
                corr.apply(image, out, false, work);
                Y.put(img * outImage, out, 0, outImage);
            }
        });
    }

    /**
     * Backward of {@link #forward}: gradIn [n, c, h, w] += dY ⋆ flipped weightᵀ (= when overwrite), gradWeight
     * [o, c, kh, kw] += Σ over images and positions of dY·x. Either may be null (skipped).
     */
    static void backward(FloatBuffer G, FloatBuffer X, FloatBuffer W, FloatBuffer GI, boolean overwrite, FloatBuffer GW, int n, Geometry g) {
        if (GI == null && GW == null) return;
        int taps = g.kh() * g.kw(), inImage = g.c() * g.h() * g.w(), outPlane = g.oh() * g.ow(), len = g.len();
        Geometry t = g.transposed();
        Correlation corrT = GI != null ? new Correlation(t, packWeights(W, g.c(), g.o(), taps, true)) : null;
        int[] offs = Arrays.copyOf(g.offsets(), roundUp(taps, GT)); // dummy taps: offset 0, dropped
        int cLanes = roundUp(g.c(), V), oPad = roundUp(g.o(), OB), tapsPad = offs.length;
        int[] planes = new int[V];
        for (int l = 0; l < V; l++) planes[l] = l * g.h() * g.w();
        // with "same" padding the bordered dY has the forward's pitch and its scratch columns fall on its zero border:
        // the weight gradient reads dY there instead of from a copy in the output pitch
        boolean same = t.pw() == g.pw() && 2 * g.padH() == g.kh() - 1 && 2 * g.padW() == g.kw() - 1;
        int dyBase = same ? t.padH() * t.pw() + t.padW() : 0, dyStride = same ? t.plane() : len;
        // blocks of images, taken as threads come free; each block's weight-gradient sums are its own and are added
        // in block order, so the result does not depend on which thread ran which block, nor on the thread count
        int blocks = Math.min(n, BLOCKS);
        float[][] partial = new float[blocks][];
        AtomicInteger next = new AtomicInteger();
        Parallel.forRange(blocks, 1, (unused, unusedEnd) -> {
            // whole images move between the buffers and these arrays in one bulk copy each (row by row cost more than the kernels)
            float[] image = new float[inImage], dyImage = new float[g.o() * outPlane];
            Correlation.Work work = GI != null ? corrT.work() : null;
            // dY bordered by kh−1−padH, for the weight gradient (channels up to oPad: its register block reads zeros past o)
            float[] gp = GW != null && same ? new float[oPad * t.plane() + STEP] : null;
            // weight gradient: x bordered and transposed to [position][channel] (zero border, zero channels ≥ c), dY in the
            // output pitch (zero scratch columns and channels ≥ o: gp itself, or a copy), and the sums as [o][tap][channel]
            float[] xt = GW != null ? new float[g.plane() * cLanes] : null, dy = GW != null && !same ? new float[oPad * len] : gp;
            for (int b; (b = next.getAndIncrement()) < blocks; ) {
                float[] gwt = GW != null ? new float[oPad * tapsPad * cLanes] : null;
                for (int img = (int) ((long) n * b / blocks), end = (int) ((long) n * (b + 1) / blocks); img < end; img++) {
                    G.get(img * g.o() * outPlane, dyImage, 0, g.o() * outPlane);
                    if (GI != null) { // dY correlated with the flipped weight, into gradIn
                        if (!overwrite) GI.get(img * inImage, image, 0, inImage);
                        corrT.apply(dyImage, image, !overwrite, work);
                        GI.put(img * inImage, image, 0, inImage);
                    }
                    if (gp != null) border(dyImage, t, gp, 0, t.plane());
                    if (GW != null) {
                        X.get(img * inImage, image, 0, inImage);
                        transpose(image, g, xt, cLanes, planes);
                        if (!same)
                            for (int ch = 0; ch < g.o(); ch++)
                                copyRows(dyImage, ch * outPlane, g.ow(), dy, ch * len, g.pw(), g.oh(), g.ow(), false);
                        weightGradient(xt, cLanes, dy, dyBase, dyStride, len, oPad, offs, gwt);
                    }
                }
                partial[b] = gwt;
            }
        });
        if (GW != null) { // Σ over blocks in order, [o][tap][channel] → [o][channel][tap], added to gradWeight
            float[] sum = partial[0];
            for (int b = 1; b < blocks; b++) for (int i = 0; i < sum.length; i++) sum[i] += partial[b][i];
            for (int co = 0; co < g.o(); co++)
                for (int ci = 0; ci < g.c(); ci++)
                    for (int k = 0; k < taps; k++) {
                        int at = (co * g.c() + ci) * taps + k;
                        GW.put(at, GW.get(at) + sum[(co * tapsPad + k) * cLanes + ci]);
                    }
        }
    }

    /**
     * Image [c, h, w] into the interior of the bordered plane as [position][lanes]: xt[p·lanes + ch] (the rest stays
     * zero). With whole vectors of channels, each position's channels are one gather (index map: {@code planes}, the
     * multiples of h·w); otherwise scalar stores.
     */
    private static void transpose(float[] image, Geometry g, float[] xt, int lanes, int[] planes) {
        int pw = g.pw(), w = g.w(), hw = g.h() * w;
        if (g.c() % V == 0) {
            for (int cl = 0; cl < g.c(); cl += V)
                for (int y = 0; y < g.h(); y++)
                    for (int x = 0, from = cl * hw + y * w, to = ((y + g.padH()) * pw + g.padW()) * lanes + cl; x < w; x++, from++, to += lanes)
                        FloatVector.fromArray(S, image, from, planes, 0).intoArray(xt, to);
            return;
        }
        for (int ch = 0; ch < g.c(); ch++)
            for (int y = 0; y < g.h(); y++) {
                int from = ch * hw + y * w, to = ((y + g.padH()) * pw + g.padW()) * lanes + ch;
                for (int x = 0; x < w; x++) xt[to + x * lanes] = image[from + x];
            }
    }

    /** Copies image [c, h, w] into the interior of dst's bordered planes, channel ch's at {@code at + ch·channelStride} (the border stays zero). */
    private static void border(float[] image, Geometry g, float[] dst, int at, int channelStride) {
        for (int ch = 0; ch < g.c(); ch++)
            copyRows(image, ch * g.h() * g.w(), g.w(), dst, at + ch * channelStride + g.padH() * g.pw() + g.padW(), g.pw(), g.h(), g.w(), false);
    }

    /**
     * rows runs of w floats from src (pitch srcPitch) to dst (pitch dstPitch), added to dst's values when accumulate.
     * Whole vectors where a row holds them: C2 leaves a copy loop between two arrays at different offsets scalar (it
     * cannot rule out that they are one array), and arraycopy's call costs as much as a short row. Rows shorter than
     * a vector keep arraycopy (256-bit vectors next to 512-bit ones measured slower).
     */
    private static void copyRows(float[] src, int from, int srcPitch, float[] dst, int to, int dstPitch, int rows, int w, boolean accumulate) {
        int full = w - w % V;
        for (int r = 0; r < rows; r++, from += srcPitch, to += dstPitch) {
            int x = 0;
            for (; x < full; x += V) {
                FloatVector v = FloatVector.fromArray(S, src, from + x);
                (accumulate ? v.add(FloatVector.fromArray(S, dst, to + x)) : v).intoArray(dst, to + x);
            }
            if (x == w) continue;
            if (!accumulate) System.arraycopy(src, from + x, dst, to + x, w - x);
            else for (; x < w; x++) dst[to + x] += src[from + x];
        }
    }

    /**
     * One image's correlation for a geometry and its packed weights: in [c, h, w] → out [o, oh, ow], added to out's
     * values when accumulate. Three-row kernels run Winograd's F(2, 3) along the rows; others the direct form.
     *
     * <p>Direct: the image bordered, {@link #correlate}d in the bordered pitch, the output rows unpacked.
     *
     * <p>F(2, 3) along y (Lavin and Gray's minimal filtering, applied to the rows only, so every step stays a whole-row
     * vector operation): output rows 2p and 2p+1 of a kernel column need input rows d0..d3 = 2p..2p+3 (bordered).
     * With the row transforms D0 = d0 − d2, D1 = d1 + d2, D2 = d2 − d1, D3 = d1 − d3 and the weight transforms
     * U0 = g0, U1 = (g0 + g1 + g2)/2, U2 = (g0 − g1 + g2)/2, U3 = g2 of each column's three taps g, the four
     * products Mk = Dk ⋆ Uk (the direct kernel along x, 3 taps per channel) give row 2p = M0 + M1 + M2 and row
     * 2p+1 = M1 − M2 − M3: 4·3 taps per channel for two output rows instead of 2·9, 1.5× fewer multiply-adds.
     */
    private static final class Correlation {
        private final Geometry g;
        private final boolean winograd;
        private final int oPad, pairs, planeD, spanD;
        /** Direct: packed weights; F(2, 3): the four transformed sets, each [o/OB][c][kw][OB]. */
        private final float[][] weights;
        /** Offsets of the (channel, tap) pairs: in the bordered planes (direct), in a transformed plane (F(2, 3)). */
        private final int[] at;

        Correlation(Geometry g, float[] wp) {
            this.g = g;
            winograd = g.kh() == 3;
            oPad = roundUp(g.o(), OB);
            pairs = (g.oh() + 1) / 2;
            planeD = pairs * g.pw();
            spanD = roundUp((pairs - 1) * g.pw() + g.ow(), STEP);
            if (!winograd) {
                weights = new float[][]{wp};
                at = g.channelTaps();
                return;
            }
            int kw = g.kw(), taps = 3 * kw;
            weights = new float[4][oPad * g.c() * kw];
            for (int b = 0; b < oPad / OB; b++)
                for (int ci = 0; ci < g.c(); ci++)
                    for (int kx = 0; kx < kw; kx++)
                        for (int l = 0; l < OB; l++) {
                            int from = ((b * g.c() + ci) * taps + kx) * OB + l, to = ((b * g.c() + ci) * kw + kx) * OB + l;
                            float g0 = wp[from], g1 = wp[from + kw * OB], g2 = wp[from + 2 * kw * OB];
                            weights[0][to] = g0;
                            weights[1][to] = (g0 + g1 + g2) * 0.5f;
                            weights[2][to] = (g0 - g1 + g2) * 0.5f;
                            weights[3][to] = g2;
                        }
            at = new int[g.c() * kw];
            for (int ch = 0, j = 0; ch < g.c(); ch++)
                for (int kx = 0; kx < kw; kx++) at[j++] = ch * planeD + kx;
        }

        /** A thread's buffers: the bordered image, the four transformed ones (F(2, 3)), and the correlations' outputs. */
        record Work(float[] bordered, float[][] in, float[][] out) {}

        Work work() {
            float[] bordered = new float[g.c() * g.plane() + STEP];
            if (!winograd) return new Work(bordered, new float[][]{bordered}, new float[][]{new float[oPad * g.span()]});
            // transformed planes: a row's last vector may run V floats past the last plane; the correlation reads up to kw + STEP past it
            float[][] d = new float[4][g.c() * planeD + Math.max(V, g.kw() + STEP)], m = new float[4][oPad * spanD];
            return new Work(bordered, d, m);
        }

        void apply(float[] in, float[] out, boolean accumulate, Work work) {
            int outPlane = g.oh() * g.ow();
            if (!winograd) {
                border(in, g, work.bordered(), 0, g.plane());
                correlate(work.bordered(), at, weights[0], oPad, g.span(), work.out()[0]);
                for (int ch = 0; ch < g.o(); ch++)
                    copyRows(work.out()[0], ch * g.span(), g.pw(), out, ch * outPlane, g.ow(), g.oh(), g.ow(), accumulate);
                return;
            }
            border(in, g, work.bordered(), 0, g.plane());
            transformRows(work.bordered(), work.in());
            for (int k = 0; k < 4; k++) correlate(work.in()[k], at, weights[k], oPad, spanD, work.out()[k]);
            float[] m0 = work.out()[0], m1 = work.out()[1], m2 = work.out()[2], m3 = work.out()[3];
            int ow = g.ow(), full = ow - ow % V;
            for (int co = 0; co < g.o(); co++)
                for (int p = 0; p < pairs; p++) {
                    int s = co * spanD + p * g.pw(), y0 = co * outPlane + 2 * p * ow, y1 = y0 + ow;
                    boolean second = 2 * p + 1 < g.oh(); // an odd last row has no partner
                    for (int x = 0; x < full; x += V) {
                        FloatVector a = FloatVector.fromArray(S, m0, s + x), b = FloatVector.fromArray(S, m1, s + x),
                                c = FloatVector.fromArray(S, m2, s + x), d = FloatVector.fromArray(S, m3, s + x);
                        FloatVector r0 = a.add(b).add(c), r1 = b.sub(c).sub(d);
                        if (accumulate) {
                            r0 = r0.add(FloatVector.fromArray(S, out, y0 + x));
                            if (second) r1 = r1.add(FloatVector.fromArray(S, out, y1 + x));
                        }
                        r0.intoArray(out, y0 + x);
                        if (second) r1.intoArray(out, y1 + x);
                    }
                    for (int x = full; x < ow; x++) {
                        float r0 = m0[s + x] + m1[s + x] + m2[s + x], r1 = m1[s + x] - m2[s + x] - m3[s + x];
                        out[y0 + x] = accumulate ? out[y0 + x] + r0 : r0;
                        if (second) out[y1 + x] = accumulate ? out[y1 + x] + r1 : r1;
                    }
                }
        }

        /**
         * The row transforms D0..D3 of each pair of output rows, from the bordered image: whole vectors over each
         * transformed row and past its end (into the next row, rewritten next, or the slack after the last), so
         * that a plane's rows of any width go in whole vectors; the border columns come out zero (sums of zeros).
         */
        private void transformRows(float[] xp, float[][] d) {
            int pw = g.pw(), plane = g.plane(), rows = g.ph();
            float[] d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
            for (int ch = 0; ch < g.c(); ch++)
                for (int p = 0; p < pairs; p++) {
                    // bordered rows 2p..2p+3; a row past the plane (an odd last output row's partner) reads as zeros
                    int r = 2 * p, a = ch * plane + r * pw, b = a + pw, c = b + pw, e = c + pw, to = ch * planeD + p * pw;
                    boolean third = r + 2 < rows, fourth = r + 3 < rows;
                    for (int x = 0; x < pw; x += V) {
                        FloatVector va = FloatVector.fromArray(S, xp, a + x), vb = FloatVector.fromArray(S, xp, b + x);
                        FloatVector vc = third ? FloatVector.fromArray(S, xp, c + x) : ZERO, ve = fourth ? FloatVector.fromArray(S, xp, e + x) : ZERO;
                        va.sub(vc).intoArray(d0, to + x);
                        vb.add(vc).intoArray(d1, to + x);
                        vc.sub(vb).intoArray(d2, to + x);
                        vb.sub(ve).intoArray(d3, to + x);
                    }
                }
        }
    }

    /**
     * Weights as [out/OB][in][taps][OB] for the register blocks, zero past {@code out}. Transposed: out and in swap
     * roles (out = the convolution's input channels) and the taps are flipped, for the input gradient.
     */
    private static float[] packWeights(FloatBuffer W, int out, int in, int taps, boolean transposed) {
        int outPad = roundUp(out, OB);
        float[] wp = new float[outPad * in * taps];
        for (int co = 0; co < out; co++)
            for (int ci = 0; ci < in; ci++)
                for (int t = 0; t < taps; t++) {
                    float v = transposed ? W.get((ci * out + co) * taps + (taps - 1 - t)) : W.get((co * in + ci) * taps + t);
                    wp[(((co / OB) * in + ci) * taps + t) * OB + co % OB] = v;
                }
        return wp;
    }

    /**
     * out[co, i] = Σ_j w[co, j]·src[i + at[j]] for i &lt; span, co &lt; oPad (a multiple of OB), j over the
     * (input channel, tap) pairs of {@link Geometry#channelTaps}; out planes {@code span} floats apart.
     */
    private static void correlate(float[] src, int[] at, float[] wp, int oPad, int span, float[] out) {
        // one flat loop over (input channel, tap): C2 keeps vector accumulators in registers across a single loop,
        // but boxes them at the phis of nested ones (measured 6 vs 118 GFLOP/s on one core)
        int k = at.length;
        for (int cb = 0; cb < oPad; cb += OB) {
            int wBase = cb * k;
            for (int i = 0; i < span; i += STEP) {
                FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                        a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00,
                        a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00,
                        a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
                for (int j = 0, wi = wBase; j < k; j++, wi += OB) {
                    int p = at[j] + i;
                    FloatVector x0 = FloatVector.fromArray(S, src, p), x1 = FloatVector.fromArray(S, src, p + V),
                            x2 = FloatVector.fromArray(S, src, p + 2 * V);
                    FloatVector w = FloatVector.broadcast(S, wp[wi]);
                    a00 = x0.fma(w, a00); a01 = x1.fma(w, a01); a02 = x2.fma(w, a02);
                    w = FloatVector.broadcast(S, wp[wi + 1]);
                    a10 = x0.fma(w, a10); a11 = x1.fma(w, a11); a12 = x2.fma(w, a12);
                    w = FloatVector.broadcast(S, wp[wi + 2]);
                    a20 = x0.fma(w, a20); a21 = x1.fma(w, a21); a22 = x2.fma(w, a22);
                    w = FloatVector.broadcast(S, wp[wi + 3]);
                    a30 = x0.fma(w, a30); a31 = x1.fma(w, a31); a32 = x2.fma(w, a32);
                    w = FloatVector.broadcast(S, wp[wi + 4]);
                    a40 = x0.fma(w, a40); a41 = x1.fma(w, a41); a42 = x2.fma(w, a42);
                    w = FloatVector.broadcast(S, wp[wi + 5]);
                    a50 = x0.fma(w, a50); a51 = x1.fma(w, a51); a52 = x2.fma(w, a52);
                    w = FloatVector.broadcast(S, wp[wi + 6]);
                    a60 = x0.fma(w, a60); a61 = x1.fma(w, a61); a62 = x2.fma(w, a62);
                    w = FloatVector.broadcast(S, wp[wi + 7]);
                    a70 = x0.fma(w, a70); a71 = x1.fma(w, a71); a72 = x2.fma(w, a72);
                }
                int o = cb * span + i;
                a00.intoArray(out, o); a01.intoArray(out, o + V); a02.intoArray(out, o + 2 * V); o += span;
                a10.intoArray(out, o); a11.intoArray(out, o + V); a12.intoArray(out, o + 2 * V); o += span;
                a20.intoArray(out, o); a21.intoArray(out, o + V); a22.intoArray(out, o + 2 * V); o += span;
                a30.intoArray(out, o); a31.intoArray(out, o + V); a32.intoArray(out, o + 2 * V); o += span;
                a40.intoArray(out, o); a41.intoArray(out, o + V); a42.intoArray(out, o + 2 * V); o += span;
                a50.intoArray(out, o); a51.intoArray(out, o + V); a52.intoArray(out, o + 2 * V); o += span;
                a60.intoArray(out, o); a61.intoArray(out, o + V); a62.intoArray(out, o + 2 * V); o += span;
                a70.intoArray(out, o); a71.intoArray(out, o + V); a72.intoArray(out, o + 2 * V);
            }
        }
    }

    /**
     * gwt[co, t, ci] += Σ_i dy[co, i]·xt[i + offs[t], ci] for i &lt; len: the same register block as {@link #correlate}
     * with the roles turned, 8 output channels (broadcast from dy, position i of channel co at dyBase + co·dyStride + i)
     * × 3 taps, each a vector of input channels read from xt ([position][lanes]). The sum over positions runs in the
     * accumulators, so no lane reductions: a block's 24 vectors are added to gwt once per image.
     */
    private static void weightGradient(float[] xt, int lanes, float[] dy, int dyBase, int dyStride, int len, int oPad, int[] offs, float[] gwt) {
        int tapsPad = offs.length;
        for (int cb = 0; cb < oPad; cb += GO)
            for (int cl = 0; cl < lanes; cl += V)
                for (int t0 = 0; t0 < tapsPad; t0 += GT) {
                    FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                            a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00,
                            a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00,
                            a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
                    int o0 = offs[t0] * lanes + cl, o1 = offs[t0 + 1] * lanes + cl, o2 = offs[t0 + 2] * lanes + cl;
                    for (int i = 0, d = dyBase + cb * dyStride, xi = 0; i < len; i++, d++, xi += lanes) {
                        FloatVector x0 = FloatVector.fromArray(S, xt, o0 + xi), x1 = FloatVector.fromArray(S, xt, o1 + xi),
                                x2 = FloatVector.fromArray(S, xt, o2 + xi);
                        FloatVector w = FloatVector.broadcast(S, dy[d]);
                        a00 = x0.fma(w, a00); a01 = x1.fma(w, a01); a02 = x2.fma(w, a02);
                        w = FloatVector.broadcast(S, dy[d + 1 * dyStride]);
                        a10 = x0.fma(w, a10); a11 = x1.fma(w, a11); a12 = x2.fma(w, a12);
                        w = FloatVector.broadcast(S, dy[d + 2 * dyStride]);
                        a20 = x0.fma(w, a20); a21 = x1.fma(w, a21); a22 = x2.fma(w, a22);
                        w = FloatVector.broadcast(S, dy[d + 3 * dyStride]);
                        a30 = x0.fma(w, a30); a31 = x1.fma(w, a31); a32 = x2.fma(w, a32);
                        w = FloatVector.broadcast(S, dy[d + 4 * dyStride]);
                        a40 = x0.fma(w, a40); a41 = x1.fma(w, a41); a42 = x2.fma(w, a42);
                        w = FloatVector.broadcast(S, dy[d + 5 * dyStride]);
                        a50 = x0.fma(w, a50); a51 = x1.fma(w, a51); a52 = x2.fma(w, a52);
                        w = FloatVector.broadcast(S, dy[d + 6 * dyStride]);
                        a60 = x0.fma(w, a60); a61 = x1.fma(w, a61); a62 = x2.fma(w, a62);
                        w = FloatVector.broadcast(S, dy[d + 7 * dyStride]);
                        a70 = x0.fma(w, a70); a71 = x1.fma(w, a71); a72 = x2.fma(w, a72);
                    }
                    // added here, not in a helper: vectors passed to a call are boxed, and C2 then boxes the loop's too
                    int at;
                    at = ((cb + 0) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a00).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a01).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a02).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 1) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a10).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a11).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a12).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 2) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a20).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a21).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a22).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 3) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a30).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a31).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a32).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 4) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a40).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a41).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a42).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 5) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a50).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a51).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a52).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 6) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a60).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a61).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a62).intoArray(gwt, at + 2 * lanes);
                    at = ((cb + 7) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a70).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a71).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a72).intoArray(gwt, at + 2 * lanes);
                }
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }
}
