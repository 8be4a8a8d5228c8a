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
        Correlation corr = new Correlation(g, packWeights(W, g.o(), g.c(), g.kh() * g.kw(), false), n);
        int inImage = g.c() * g.h() * g.w(), outImage = g.o() * g.oh() * g.ow(), batch = corr.batch();
        int units = (n + batch - 1) / batch;
        AtomicInteger next = new AtomicInteger();
        Parallel.forRange(units, 1, (s, e) -> {
            Correlation.Work work = corr.work();
            float[] in = new float[batch * inImage], out = new float[batch * outImage];
            for (int u; (u = next.getAndIncrement()) < units; ) { // batches of images are independent: taken as threads come free
                int img = u * batch, images = Math.min(batch, n - img);
                X.get(img * inImage, in, 0, images * inImage);
                corr.apply(in, images, out, false, work);
                Y.put(img * outImage, out, 0, images * outImage);
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
        int blocks = Math.min(n, BLOCKS);
        Correlation corrT = GI != null ? new Correlation(t, packWeights(W, g.c(), g.o(), taps, true), n / blocks) : null;
        int batch = GI != null ? corrT.batch() : 1;
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
        float[][] partial = new float[blocks][];
        AtomicInteger next = new AtomicInteger();
        Parallel.forRange(blocks, 1, (unused, unusedEnd) -> {
            // whole images move between the buffers and these arrays in one bulk copy each (row by row cost more than the kernels)
            float[] image = new float[batch * inImage], dyImage = new float[batch * g.o() * outPlane];
            Correlation.Work work = GI != null ? corrT.work() : null;
            // dY bordered by kh−1−padH, for the weight gradient (channels up to oPad: its register block reads zeros past o)
            float[] gp = GW != null && same ? new float[oPad * t.plane() + STEP] : null;
            // weight gradient: x bordered and transposed to [position][channel] (zero border, zero channels ≥ c), dY in the
            // output pitch (zero scratch columns and channels ≥ o: gp itself, or a copy), and the sums as [o][tap][channel]
            float[] xt = GW != null ? new float[g.plane() * cLanes] : null, dy = GW != null && !same ? new float[oPad * len] : gp;
            for (int b; (b = next.getAndIncrement()) < blocks; ) {
                float[] gwt = GW != null ? new float[oPad * tapsPad * cLanes] : null;
                for (int img = (int) ((long) n * b / blocks), end = (int) ((long) n * (b + 1) / blocks); img < end; img += batch) {
                    int images = Math.min(batch, end - img);
                    G.get(img * g.o() * outPlane, dyImage, 0, images * g.o() * outPlane);
                    if (GI != null) { // dY correlated with the flipped weight, into gradIn
                        if (!overwrite) GI.get(img * inImage, image, 0, images * inImage);
                        corrT.apply(dyImage, images, image, !overwrite, work);
                        GI.put(img * inImage, image, 0, images * inImage);
                    }
                    if (GW != null)
                        for (int k = 0; k < images; k++) {
                            int dyFrom = k * g.o() * outPlane;
                            if (same) border(dyImage, dyFrom, t, gp, 0, t.plane());
                            else
                                for (int ch = 0; ch < g.o(); ch++)
                                    copyRows(dyImage, dyFrom + ch * outPlane, g.ow(), dy, ch * len, g.pw(), g.oh(), g.ow(), false);
                            X.get((img + k) * inImage, image, 0, inImage);
                            transpose(image, g, xt, cLanes, planes);
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

    /**
     * Copies the image [c, h, w] at {@code from} into the interior of dst's bordered planes, channel ch's at
     * {@code at + ch·channelStride} (the border stays zero).
     */
    private static void border(float[] images, int from, Geometry g, float[] dst, int at, int channelStride) {
        for (int ch = 0; ch < g.c(); ch++)
            copyRows(images, from + ch * g.h() * g.w(), g.w(), dst, at + ch * channelStride + g.padH() * g.pw() + g.padW(), g.pw(), g.h(), g.w(), false);
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
     * A batch of images' correlation for a geometry and its packed weights: in [b, c, h, w] → out [b, o, oh, ow], added
     * to out's values when accumulate. Three-row kernels run Winograd's F(4, 3) along the rows; others the direct form,
     * one image at a time: the image bordered, {@link #correlate}d in the bordered pitch, the output rows unpacked.
     *
     * <p>F(4, 3) along y (Lavin and Gray's minimal filtering, on the rows only, so every step stays a whole-row vector
     * operation): output rows 4q..4q+3 of one kernel column need the bordered input rows d0..d5 = 4q..4q+5. The six
     * row transforms D = Bᵀd, with the weight transforms U = G·g of each column's three taps g, give six products
     * Mk = Dk ⋆ Uk (the direct kernel along x, 3 taps per channel) and the output rows Aᵀ·M: 6·3 taps per channel
     * for four output rows instead of 4·9, 2× fewer multiply-adds. (Points 0, ±1, ±2; fp32 error about 1e-6 relative
     * on unit inputs.) The transformed rows of a batch of images sit one after another, so that small planes still
     * fill whole register blocks of positions.
     */
    private static final class Correlation {
        /** Floats of transformed planes per thread, about (they stay in the L2 cache between the transform and the products). */
        private static final int TRANSFORMED_FLOATS = 1 << 16;

        private final Geometry g;
        private final boolean winograd;
        private final int oPad, groups, batch;
        /** Direct: the packed weights; F(4, 3): the six transformed sets, each [o/OB][c][kw][OB]. */
        private final float[][] weights;
        /** Offsets of the (channel, tap) pairs: in the bordered planes (direct), in a transformed plane (F(4, 3)). */
        private final int[] at;

        /** For up to {@code images} images per call (the batch is no larger). */
        Correlation(Geometry g, float[] wp, int images) {
            this.g = g;
            winograd = g.kh() == 3;
            oPad = roundUp(g.o(), OB);
            groups = (g.oh() + 3) / 4;
            if (!winograd) {
                batch = 1;
                weights = new float[][]{wp};
                at = g.channelTaps();
                return;
            }
            // the batch: the most images whose transformed planes fit the budget, or half as many if that wastes fewer positions
            int rowsPerImage = groups * g.pw(), most = Math.max(1, Math.min(images, TRANSFORMED_FLOATS / (6 * g.c() * rowsPerImage)));
            int best = most;
            for (int b = Math.max(1, most / 2); b <= most; b++)
                if ((double) span(b) / b < (double) span(best) / best) best = b;
            batch = best;
            int kw = g.kw(), taps = 3 * kw;
            weights = new float[6][oPad * g.c() * kw];
            for (int blk = 0; blk < oPad / OB; blk++)
                for (int ci = 0; ci < g.c(); ci++)
                    for (int kx = 0; kx < kw; kx++)
                        for (int l = 0; l < OB; l++) {
                            int from = ((blk * g.c() + ci) * taps + kx) * OB + l, to = ((blk * g.c() + ci) * kw + kx) * OB + l;
                            double g0 = wp[from], g1 = wp[from + kw * OB], g2 = wp[from + 2 * kw * OB];
                            weights[0][to] = (float) (g0 / 4);
                            weights[1][to] = (float) (-(g0 + g1 + g2) / 6);
                            weights[2][to] = (float) (-(g0 - g1 + g2) / 6);
                            weights[3][to] = (float) (g0 / 24 + g1 / 12 + g2 / 6);
                            weights[4][to] = (float) (g0 / 24 - g1 / 12 + g2 / 6);
                            weights[5][to] = (float) g2;
                        }
            at = new int[g.c() * kw];
            for (int ch = 0, j = 0; ch < g.c(); ch++)
                for (int kx = 0; kx < kw; kx++) at[j++] = ch * batch * rowsPerImage + kx;
        }

        /** Images per {@link #apply}. */
        int batch() {
            return batch;
        }

        /** Output positions computed for b images' transformed rows: whole register blocks. */
        private int span(int b) {
            return roundUp((b * groups - 1) * g.pw() + g.ow(), STEP);
        }

        /** A thread's buffers: the bordered images, the six transformed planes (F(4, 3)), and the correlations' outputs. */
        record Work(float[] bordered, float[][] in, float[][] out) {}

        Work work() {
            float[] bordered = new float[batch * g.c() * g.plane() + STEP];
            if (!winograd) return new Work(bordered, null, new float[][]{new float[oPad * g.span()]});
            // a transformed row's last vector may run V floats past the last plane; the products read up to kw + STEP past it
            float[][] d = new float[6][g.c() * batch * groups * g.pw() + Math.max(V, g.kw() + STEP)], m = new float[6][oPad * span(batch)];
            return new Work(bordered, d, m);
        }

        void apply(float[] in, int images, float[] out, boolean accumulate, Work work) {
            int inImage = g.c() * g.h() * g.w(), outPlane = g.oh() * g.ow(), outImage = g.o() * outPlane;
            if (!winograd) {
                for (int b = 0; b < images; b++) {
                    border(in, b * inImage, g, work.bordered(), 0, g.plane());
                    correlate(work.bordered(), at, weights[0], oPad, g.span(), work.out()[0]);
                    for (int ch = 0; ch < g.o(); ch++)
                        copyRows(work.out()[0], ch * g.span(), g.pw(), out, b * outImage + ch * outPlane, g.ow(), g.oh(), g.ow(), accumulate);
                }
                return;
            }
            for (int b = 0; b < images; b++) border(in, b * inImage, g, work.bordered(), b * g.c() * g.plane(), g.plane());
            transformRows(work.bordered(), images, work.in());
            int span = span(images);
            for (int k = 0; k < 6; k++) correlate(work.in()[k], at, weights[k], oPad, span, work.out()[k]);
            for (int b = 0; b < images; b++) outputRows(work.out(), span, b, out, b * outImage, accumulate);
        }

        /**
         * The row transforms D = Bᵀd of each group of four output rows, from the bordered images into the transformed
         * planes [channel][image][group][pw]: whole vectors over each row and past its end, into the row written next
         * (hence that order) or the slack after the last, so rows of any width go in whole vectors; border columns
         * come out zero.
         */
        private void transformRows(float[] xp, int images, float[][] d) {
            int pw = g.pw(), plane = g.plane(), rows = g.ph(), planeD = batch * groups * pw;
            float[] t0 = d[0], t1 = d[1], t2 = d[2], t3 = d[3], t4 = d[4], t5 = d[5];
            for (int ch = 0; ch < g.c(); ch++)
                for (int bq = 0; bq < images * groups; bq++) { // image bq / groups, group q
                    int q = bq % groups, b = bq / groups;
                    int r = 4 * q, from = (b * g.c() + ch) * plane + r * pw, to = ch * planeD + (b * groups + q) * pw;
                    // rows past the plane (the last group's, where oh is not a multiple of 4) read as zeros
                    boolean r2 = r + 2 < rows, r3 = r + 3 < rows, r4 = r + 4 < rows, r5 = r + 5 < rows;
                    for (int x = 0; x < pw; x += V) {
                        int at = from + x;
                        FloatVector d0 = FloatVector.fromArray(S, xp, at), d1 = FloatVector.fromArray(S, xp, at + pw),
                                d2 = r2 ? FloatVector.fromArray(S, xp, at + 2 * pw) : ZERO, d3 = r3 ? FloatVector.fromArray(S, xp, at + 3 * pw) : ZERO,
                                d4 = r4 ? FloatVector.fromArray(S, xp, at + 4 * pw) : ZERO, d5 = r5 ? FloatVector.fromArray(S, xp, at + 5 * pw) : ZERO;
                        FloatVector u = d4.sub(d2.mul(4f)), v = d1.mul(4f).sub(d3), s = d4.sub(d2), w = d1.sub(d3).mul(2f);
                        d0.mul(4f).sub(d2.mul(5f)).add(d4).intoArray(t0, to + x); // 4d0 − 5d2 + d4
                        u.sub(v).intoArray(t1, to + x);                           // −4d1 − 4d2 + d3 + d4
                        u.add(v).intoArray(t2, to + x);                           // 4d1 − 4d2 − d3 + d4
                        s.sub(w).intoArray(t3, to + x);                           // −2d1 − d2 + 2d3 + d4
                        s.add(w).intoArray(t4, to + x);                           // 2d1 − d2 − 2d3 + d4
                        d1.mul(4f).sub(d3.mul(5f)).add(d5).intoArray(t5, to + x); // 4d1 − 5d3 + d5
                    }
                }
        }

        /** Image b's output rows Aᵀ·M from the six products (pitch pw, {@code span} floats per channel), into out at {@code to}. */
        private void outputRows(float[][] m, int span, int b, float[] out, int to, boolean accumulate) {
            float[] m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];
            int ow = g.ow(), oh = g.oh(), full = ow - ow % V;
            for (int co = 0; co < g.o(); co++)
                for (int q = 0; q < groups; q++) {
                    int s = co * span + (b * groups + q) * g.pw(), y = to + (co * oh + 4 * q) * ow, rows = Math.min(4, oh - 4 * q);
                    for (int x = 0; x < full; x += V) {
                        FloatVector a1 = FloatVector.fromArray(S, m1, s + x), a2 = FloatVector.fromArray(S, m2, s + x);
                        FloatVector a3 = FloatVector.fromArray(S, m3, s + x), a4 = FloatVector.fromArray(S, m4, s + x);
                        FloatVector p = a1.add(a2), n = a1.sub(a2), pp = a3.add(a4), nn = a3.sub(a4);
                        store(FloatVector.fromArray(S, m0, s + x).add(p).add(pp), out, y + x, accumulate);
                        if (rows > 1) store(n.add(nn.mul(2f)), out, y + ow + x, accumulate);
                        if (rows > 2) store(p.add(pp.mul(4f)), out, y + 2 * ow + x, accumulate);
                        if (rows > 3) store(n.add(nn.mul(8f)).add(FloatVector.fromArray(S, m5, s + x)), out, y + 3 * ow + x, accumulate);
                    }
                    for (int x = full; x < ow; x++) {
                        int i = s + x, at = y + x;
                        float p = m1[i] + m2[i], n = m1[i] - m2[i], pp = m3[i] + m4[i], nn = m3[i] - m4[i];
                        float r0 = m0[i] + p + pp, r1 = n + 2 * nn, r2 = p + 4 * pp, r3 = n + 8 * nn + m5[i];
                        out[at] = accumulate ? out[at] + r0 : r0;
                        if (rows > 1) out[at + ow] = accumulate ? out[at + ow] + r1 : r1;
                        if (rows > 2) out[at + 2 * ow] = accumulate ? out[at + 2 * ow] + r2 : r2;
                        if (rows > 3) out[at + 3 * ow] = accumulate ? out[at + 3 * ow] + r3 : r3;
                    }
                }
        }
    }

    /** v into out at {@code at}, added to the value there when accumulate. */
    private static void store(FloatVector v, float[] out, int at, boolean accumulate) {
        (accumulate ? v.add(FloatVector.fromArray(S, out, at)) : v).intoArray(out, at);
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
