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
 * <p>Three-row kernels (ResNet's 3×3) run all three through Winograd's F(4, 3) along the rows ({@link Correlation},
 * {@link WeightGradient}): row transforms around the same register-blocked kernels with 3 taps per channel instead of
 * 9, 2× fewer multiply-adds.
 *
 * <p>Threads take batches of images (forward) or blocks of images (backward) as they come free, which evens out a thread that
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

    /** The backend's team: the forward's batches and the backward's blocks of images run on it. */
    private final Parallel parallel;
    /** The threads' work arrays, kept between calls of the same shape (a training step repeats its shapes). */
    final WorkPool pool = new WorkPool();

    CpuDirectConv(Parallel parallel) {
        this.parallel = parallel;
    }

    /** What a pooled value serves: the pass (with the gradients it computes), the geometry and the batch of images. */
    private record PoolKey(String pass, Geometry g, int batch) {}

    /** A thread's arrays for the forward: the correlation's work and a batch of input and of output images. */
    private record ForwardWork(Correlation.Work corr, float[] in, float[] out) {}

    /** A thread's arrays for the backward: a batch of images (gradIn or x) and of dY, and either gradient's work. */
    private record BackwardWork(float[] image, float[] dy, Correlation.Work corr, WeightGradient.Work wg) {}

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
    void forward(FloatBuffer X, FloatBuffer W, FloatBuffer Y, int n, Geometry g) {
        Correlation corr = new Correlation(g, packWeights(W, g.o(), g.c(), g.kh() * g.kw(), false), n);
        int inImage = g.c() * g.h() * g.w(), outImage = g.o() * g.oh() * g.ow(), batch = corr.batch();
        int units = (n + batch - 1) / batch;
        AtomicInteger next = new AtomicInteger();
        PoolKey key = new PoolKey("forward", g, batch);
        parallel.forRange(units, 1, (s, e) -> {
            // + V: the row transforms read whole vectors past a row's end, and the output rows write them
            ForwardWork work = pool.take(key, () -> new ForwardWork(corr.work(), new float[batch * inImage + V], new float[batch * outImage + V]));
            try {
                for (int u; (u = next.getAndIncrement()) < units; ) { // batches of images are independent: taken as threads come free
                    int img = u * batch, images = Math.min(batch, n - img);
                    X.get(img * inImage, work.in(), 0, images * inImage);
                    corr.apply(work.in(), images, work.out(), false, work.corr());
                    Y.put(img * outImage, work.out(), 0, images * outImage);
                }
            } finally {
                pool.give(key, work);
            }
        });
    }

    /**
     * Backward of {@link #forward}: gradIn [n, c, h, w] += dY ⋆ flipped weightᵀ (= when overwrite), gradWeight
     * [o, c, kh, kw] += Σ over images and positions of dY·x. Either may be null (skipped).
     */
    void backward(FloatBuffer G, FloatBuffer X, FloatBuffer W, FloatBuffer GI, boolean overwrite, FloatBuffer GW, int n, Geometry g) {
        if (GI == null && GW == null) return;
        int inImage = g.c() * g.h() * g.w(), outImage = g.o() * g.oh() * g.ow();
        int blocks = Math.min(n, BLOCKS);
        Correlation corrT = GI != null ? new Correlation(g.transposed(), packWeights(W, g.c(), g.o(), g.kh() * g.kw(), true), n / blocks) : null;
        int batch = GI != null ? corrT.batch() : Correlation.batch(g, roundUp(g.c(), V), n / blocks);
        WeightGradient wg = GW != null ? new WeightGradient(g, batch) : null;
        // blocks of images, taken as threads come free; each block's weight-gradient sums are its own and are added
        // in block order, so the result does not depend on which thread ran which block, nor on the thread count
        PoolKey key = new PoolKey("backward" + (GI != null ? " input" : "") + (GW != null ? " weight" : ""), g, batch);
        PoolKey sumsKey = new PoolKey("weight gradient sums", g, blocks);
        float[][] partial = GW != null ? pool.take(sumsKey, () -> new float[blocks][wg.sums()]) : null;
        AtomicInteger next = new AtomicInteger();
        parallel.forRange(blocks, 1, (unused, unusedEnd) -> {
            // whole batches of images move between the buffers and these arrays in one bulk copy each (+ V: as the forward's)
            BackwardWork work = pool.take(key, () -> new BackwardWork(new float[batch * inImage + V], new float[batch * outImage + V],
                    GI != null ? corrT.work() : null, GW != null ? wg.work() : null));
            float[] image = work.image(), dyImage = work.dy();
            try {
                for (int b; (b = next.getAndIncrement()) < blocks; ) {
                    float[] sums = GW != null ? partial[b] : null;
                    if (sums != null) Arrays.fill(sums, 0f);
                    for (int img = (int) ((long) n * b / blocks), end = (int) ((long) n * (b + 1) / blocks); img < end; img += batch) {
                        int images = Math.min(batch, end - img);
                        G.get(img * outImage, dyImage, 0, images * outImage);
                        if (GI != null) { // dY correlated with the flipped weight, into gradIn
                            if (!overwrite) GI.get(img * inImage, image, 0, images * inImage);
                            corrT.apply(dyImage, images, image, !overwrite, work.corr());
                            GI.put(img * inImage, image, 0, images * inImage);
                        }
                        if (GW != null) {
                            X.get(img * inImage, image, 0, images * inImage);
                            wg.add(image, dyImage, images, work.wg(), sums);
                        }
                    }
                }
            } finally {
                pool.give(key, work);
            }
        });
        if (GW != null) { // Σ over blocks in order, added to gradWeight
            float[] sum = partial[0];
            for (int b = 1; b < blocks; b++) for (int i = 0; i < sum.length; i++) sum[i] += partial[b][i];
            wg.addTo(sum, GW);
            pool.give(sumsKey, partial);
        }
    }

    /**
     * The weight gradient dW[o, c, ky, kx] = Σ over images and positions of dY[o, y, x]·x[c, y + ky, x + kx] (bordered
     * x), in sums that {@link #addTo} folds into gradWeight. Three-row kernels run the adjoint of the forward's
     * F(4, 3): per group of four output rows, the six row transforms D = Bᵀd of x (as the forward) and E = A·dY of dY
     * (E0 = dy0, E1,2 = dy0 ± dy1 + dy2 ± dy3, E3,4 = dy0 ± 2dy1 + 4dy2 ± 8dy3, E5 = dy3) give the six 3-tap products
     * Pk = Σ Ek·Dk(x + kx), and dW[ky] = Σk G[k][ky]·Pk: 2× fewer multiply-adds. Others sum the taps directly.
     *
     * <p>Both run {@link #weightGradient}: 8 output channels (broadcast from dY) × 3 taps, each a vector of input
     * channels read from x transposed to [position][channel], with the sum over positions in the accumulators.
     */
    private static final class WeightGradient {
        private final Geometry g;
        private final boolean winograd;
        private final int batch, lanes, oPad, groups, tapsPad, rowsPerImage;
        /** Tap offsets in the transposed x's positions (dummy taps read offset 0 and are dropped). */
        private final int[] offs;
        private final int[] planes = new int[V];

        WeightGradient(Geometry g, int batch) {
            this.g = g;
            this.batch = batch;
            winograd = g.kh() == 3;
            lanes = roundUp(g.c(), V);
            oPad = roundUp(g.o(), OB);
            groups = (g.oh() + 3) / 4;
            rowsPerImage = groups * g.pw();
            int taps = winograd ? g.kw() : g.kh() * g.kw();
            offs = new int[roundUp(taps, GT)];
            for (int t = 0; t < taps; t++) offs[t] = winograd ? t : g.offsets()[t];
            tapsPad = offs.length;
            for (int l = 0; l < V; l++) planes[l] = l * g.h() * g.w();
        }

        /** Floats of a block's sums: [o][tap][channel] (direct), six such sets of the kw column taps (F(4, 3)). */
        int sums() {
            return (winograd ? 6 : 1) * oPad * tapsPad * lanes;
        }

        /**
         * A thread's buffers: x bordered and transposed to [position][lanes] per image (zero border, zero channels ≥ c);
         * direct: dY in the output pitch (zero scratch columns, zero channels ≥ o); F(4, 3): the six transforms of
         * each, with E's columns ≥ ow and channels ≥ o zero.
         */
        record Work(float[] xt, float[][] d, float[][] e) {}

        Work work() {
            if (!winograd) return new Work(new float[g.plane() * lanes], null, new float[][]{new float[oPad * g.len()]});
            float[][] d = new float[6][(batch * rowsPerImage + g.kw()) * lanes + V], e = new float[6][oPad * batch * rowsPerImage + V];
            return new Work(new float[batch * g.plane() * lanes + V], d, e);
        }

        /** Adds the gradient of {@code images} images (x [b, c, h, w], dY [b, o, oh, ow]) to sums. */
        void add(float[] x, float[] dy, int images, Work work, float[] sums) {
            int inImage = g.c() * g.h() * g.w(), outPlane = g.oh() * g.ow();
            if (!winograd) {
                for (int b = 0; b < images; b++) {
                    transpose(x, b * inImage, g, work.xt(), 0, lanes, planes);
                    for (int ch = 0; ch < g.o(); ch++)
                        copyRows(dy, (b * g.o() + ch) * outPlane, g.ow(), work.e()[0], ch * g.len(), g.pw(), g.oh(), g.ow(), false);
                    weightGradient(work.xt(), lanes, work.e()[0], 0, g.len(), g.len(), oPad, offs, sums, 0);
                }
                return;
            }
            for (int b = 0; b < images; b++) transpose(x, b * inImage, g, work.xt(), b * g.plane() * lanes, lanes, planes);
            transformX(work.xt(), images, work.d());
            transformDy(dy, images, work.e());
            int len = (images * groups - 1) * g.pw() + g.ow(), stride = batch * rowsPerImage, set = oPad * tapsPad * lanes;
            for (int k = 0; k < 6; k++) weightGradient(work.d()[k], lanes, work.e()[k], 0, stride, len, oPad, offs, sums, k * set);
        }

        /** The row transforms of the transposed x: as {@link Correlation}'s, each row pw·lanes floats (whole vectors). */
        private void transformX(float[] xt, int images, float[][] d) {
            int row = g.pw() * lanes, rows = g.ph();
            float[] zeros = new float[row];
            float[][] src = new float[6][];
            int[] off = new int[6];
            for (int bq = 0; bq < images * groups; bq++) {
                int b = bq / groups, r = 4 * (bq % groups), from = (b * g.plane() + r * g.pw()) * lanes, to = bq * row;
                for (int j = 0; j < 6; j++) { // rows past the plane (a last group short of four rows) read as zeros
                    src[j] = r + j < rows ? xt : zeros;
                    off[j] = r + j < rows ? from + j * row : 0;
                }
                rowTransform(src, off, row, d, to);
            }
        }

        /**
         * E = A·dY of each group of four output rows, into columns 0..ow−1 of the group's row in the pitch pw: whole
         * vectors over each row and past its end, into rows written later (channel-major order) or the columns ≥ ow
         * of the rows reached, which are zeroed again (positions of channels ≥ o only feed sums that are dropped).
         */
        private void transformDy(float[] dy, int images, float[][] e) {
            int ow = g.ow(), oh = g.oh(), pw = g.pw(), stride = batch * rowsPerImage, outPlane = oh * ow, reach = roundUp(ow, V);
            float[] e0 = e[0], e1 = e[1], e2 = e[2], e3 = e[3], e4 = e[4], e5 = e[5], zeros = new float[reach];
            for (int co = 0; co < g.o(); co++)
                for (int bq = 0; bq < images * groups; bq++) {
                    int b = bq / groups, q = bq % groups, rows = Math.min(4, oh - 4 * q);
                    int from = (b * g.o() + co) * outPlane + 4 * q * ow, to = co * stride + bq * pw;
                    // rows past the plane (a last group short of four rows) read as zeros
                    float[] a1 = rows > 1 ? dy : zeros, a2 = rows > 2 ? dy : zeros, a3 = rows > 3 ? dy : zeros;
                    int o1 = rows > 1 ? from + ow : 0, o2 = rows > 2 ? from + 2 * ow : 0, o3 = rows > 3 ? from + 3 * ow : 0;
                    for (int x = 0; x < ow; x += V) {
                        FloatVector y0 = FloatVector.fromArray(S, dy, from + x), y1 = FloatVector.fromArray(S, a1, o1 + x),
                                y2 = FloatVector.fromArray(S, a2, o2 + x), y3 = FloatVector.fromArray(S, a3, o3 + x);
                        FloatVector p = y0.add(y2), m = y1.add(y3), p4 = y0.add(y2.mul(4f)), m2 = y1.mul(2f).add(y3.mul(8f));
                        y0.intoArray(e0, to + x);
                        p.add(m).intoArray(e1, to + x);
                        p.sub(m).intoArray(e2, to + x);
                        p4.add(m2).intoArray(e3, to + x);
                        p4.sub(m2).intoArray(e4, to + x);
                        y3.intoArray(e5, to + x);
                    }
                    for (int r = to, last = to + reach; r < last; r += pw)
                        for (int i = r + ow, end = Math.min(r + pw, last); i < end; i++) {
                            e0[i] = 0f; e1[i] = 0f; e2[i] = 0f; e3[i] = 0f; e4[i] = 0f; e5[i] = 0f;
                        }
                }
        }

        /** Adds the summed sums to gradWeight [o, c, kh, kw]: per tap directly, or dW[ky] = Σk G[k][ky]·Pk (F(4, 3)). */
        void addTo(float[] sum, FloatBuffer GW) {
            int taps = g.kh() * g.kw(), set = oPad * tapsPad * lanes;
            float[] gw = new float[g.o() * g.c() * taps];
            GW.get(0, gw, 0, gw.length);
            for (int co = 0; co < g.o(); co++)
                for (int ci = 0; ci < g.c(); ci++)
                    for (int t = 0; t < taps; t++) {
                        int at = (co * g.c() + ci) * taps + t;
                        double v;
                        if (!winograd) v = sum[(co * tapsPad + t) * lanes + ci];
                        else {
                            int ky = t / g.kw(), kx = t % g.kw();
                            v = 0;
                            for (int k = 0; k < 6; k++) v += WINOGRAD_G[k][ky] * sum[k * set + (co * tapsPad + kx) * lanes + ci];
                        }
                        gw[at] += (float) v;
                    }
            GW.put(0, gw, 0, gw.length);
        }
    }

    /**
     * The image [c, h, w] at {@code from} into the interior of the bordered plane at {@code to} as [position][lanes]:
     * xt[to + p·lanes + ch] (the rest stays zero). With whole vectors of channels, each position's channels are one
     * gather (index map: {@code planes}, the multiples of h·w); otherwise scalar stores.
     */
    private static void transpose(float[] images, int from, Geometry g, float[] xt, int to, int lanes, int[] planes) {
        int pw = g.pw(), w = g.w(), hw = g.h() * w;
        if (g.c() % V == 0) {
            for (int cl = 0; cl < g.c(); cl += V)
                for (int y = 0; y < g.h(); y++)
                    for (int x = 0, s = from + cl * hw + y * w, d = to + ((y + g.padH()) * pw + g.padW()) * lanes + cl; x < w; x++, s++, d += lanes)
                        FloatVector.fromArray(S, images, s, planes, 0).intoArray(xt, d);
            return;
        }
        for (int ch = 0; ch < g.c(); ch++)
            for (int y = 0; y < g.h(); y++) {
                int s = from + ch * hw + y * w, d = to + ((y + g.padH()) * pw + g.padW()) * lanes + ch;
                for (int x = 0; x < w; x++) xt[d + x * lanes] = images[s + x];
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
            batch = batch(g, g.c(), images);
            if (!winograd) {
                weights = new float[][]{wp};
                at = g.channelTaps();
                return;
            }
            int rowsPerImage = groups * g.pw();
            int kw = g.kw(), taps = 3 * kw;
            weights = new float[6][oPad * g.c() * kw];
            for (int blk = 0; blk < oPad / OB; blk++)
                for (int ci = 0; ci < g.c(); ci++)
                    for (int kx = 0; kx < kw; kx++)
                        for (int l = 0; l < OB; l++) {
                            int from = ((blk * g.c() + ci) * taps + kx) * OB + l, to = ((blk * g.c() + ci) * kw + kx) * OB + l;
                            double g0 = wp[from], g1 = wp[from + kw * OB], g2 = wp[from + 2 * kw * OB];
                            for (int k = 0; k < 6; k++)
                                weights[k][to] = (float) (WINOGRAD_G[k][0] * g0 + WINOGRAD_G[k][1] * g1 + WINOGRAD_G[k][2] * g2);
                        }
            at = new int[g.c() * kw];
            for (int ch = 0, j = 0; ch < g.c(); ch++)
                for (int kx = 0; kx < kw; kx++) at[j++] = ch * batch * rowsPerImage + kx;
        }

        /** Images per {@link #apply}. */
        int batch() {
            return batch;
        }

        /**
         * Images per batch for F(4, 3) over this geometry, with {@code channels} transformed channels (or lanes) per
         * position, up to {@code images}: the most whose transformed planes fit the budget, or as few as half of that
         * where they waste fewer positions on whole register blocks. 1 where the direct form runs.
         */
        static int batch(Geometry g, int channels, int images) {
            if (g.kh() != 3) return 1;
            int rowsPerImage = (g.oh() + 3) / 4 * g.pw(), most = Math.max(1, Math.min(images, TRANSFORMED_FLOATS / (6 * channels * rowsPerImage)));
            int best = most;
            for (int b = Math.max(1, most / 2); b <= most; b++)
                if ((double) span(g, b) / b < (double) span(g, best) / best) best = b;
            return best;
        }

        /** Output positions computed for b images' transformed rows: whole register blocks. */
        private static int span(Geometry g, int b) {
            return roundUp((b * ((g.oh() + 3) / 4) - 1) * g.pw() + g.ow(), STEP);
        }

        private int span(int b) {
            return span(g, b);
        }

        /** A thread's buffers: the bordered image (direct) or the six transformed planes (F(4, 3)), and the correlations' outputs. */
        record Work(float[] bordered, float[][] in, float[][] out) {}

        Work work() {
            if (!winograd) return new Work(new float[g.c() * g.plane() + STEP], null, new float[][]{new float[oPad * g.span()]});
            // a transformed row's last vector may run V floats past the last plane; the products read up to kw + STEP past it
            float[][] d = new float[6][g.c() * batch * groups * g.pw() + Math.max(V, g.kw() + STEP)], m = new float[6][oPad * span(batch) + V];
            return new Work(null, d, m);
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
            transformRows(in, images, work.in());
            int span = span(images);
            for (int k = 0; k < 6; k++) correlate(work.in()[k], at, weights[k], oPad, span, work.out()[k]);
            for (int b = 0; b < images; b++) outputRows(work.out(), span, b, out, b * outImage, accumulate);
        }

        /**
         * The row transforms D = Bᵀd of each group of four output rows, straight from the images [b, c, h, w] into the
         * interiors of the transformed planes [channel][image][group][pw] (rows above and below an image read as
         * zeros). Whole vectors over each row and past its end: the overrun lands in rows written later (hence this
         * order), in unused rows or in the slack after the last, and the border columns it covers are zeroed again.
         */
        private void transformRows(float[] in, int images, float[][] d) {
            int h = g.h(), w = g.w(), pw = g.pw(), planeD = batch * groups * pw, inImage = g.c() * h * w;
            int borders = pw - w; // this row's right border and the next row's left one, contiguous
            float[] t0 = d[0], t1 = d[1], t2 = d[2], t3 = d[3], t4 = d[4], t5 = d[5], zeros = new float[roundUp(w, V)];
            float[][] src = new float[6][];
            int[] off = new int[6];
            for (int ch = 0; ch < g.c(); ch++)
                for (int bq = 0; bq < images * groups; bq++) { // image bq / groups, group bq % groups
                    int b = bq / groups, r = 4 * (bq % groups) - g.padH(), from = b * inImage + (ch * h + r) * w;
                    int to = ch * planeD + bq * pw + g.padW();
                    for (int j = 0; j < 6; j++) { // rows above and below the image read as zeros
                        boolean inside = r + j >= 0 && r + j < h;
                        src[j] = inside ? in : zeros;
                        off[j] = inside ? from + j * w : 0;
                    }
                    rowTransform(src, off, w, d, to);
                    // every row the vectors reached: its right border and the next row's left one, zero again
                    for (int row = to - g.padW(), reach = to + roundUp(w, V); row < reach; row += pw)
                        for (int i = row + g.padW() + w, end = Math.min(i + borders, reach); i < end; i++) {
                            t0[i] = 0f; t1[i] = 0f; t2[i] = 0f; t3[i] = 0f; t4[i] = 0f; t5[i] = 0f;
                        }
                }
        }

        /**
         * Image b's output rows Aᵀ·M from the six products (pitch pw, {@code span} floats per channel), into out at
         * {@code to}. Written: whole vectors over each row and past its end, into rows written later (out has V floats
         * of slack); added: whole vectors within the row, then scalars (no vector-valued branches: C2 boxes vectors
         * at the merge).
         */
        private void outputRows(float[][] m, int span, int b, float[] out, int to, boolean accumulate) {
            float[] m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];
            int ow = g.ow(), oh = g.oh(), full = accumulate ? ow - ow % V : ow;
            for (int co = 0; co < g.o(); co++)
                for (int q = 0; q < groups; q++) {
                    int s = co * span + (b * groups + q) * g.pw(), y = to + (co * oh + 4 * q) * ow, rows = Math.min(4, oh - 4 * q);
                    if (accumulate)
                        for (int x = 0; x < full; x += V) {
                            FloatVector a1 = FloatVector.fromArray(S, m1, s + x), a2 = FloatVector.fromArray(S, m2, s + x);
                            FloatVector a3 = FloatVector.fromArray(S, m3, s + x), a4 = FloatVector.fromArray(S, m4, s + x);
                            FloatVector p = a1.add(a2), n = a1.sub(a2), pp = a3.add(a4), nn = a3.sub(a4);
                            FloatVector.fromArray(S, m0, s + x).add(p).add(pp).add(FloatVector.fromArray(S, out, y + x)).intoArray(out, y + x);
                            if (rows > 1) n.add(nn.mul(2f)).add(FloatVector.fromArray(S, out, y + ow + x)).intoArray(out, y + ow + x);
                            if (rows > 2) p.add(pp.mul(4f)).add(FloatVector.fromArray(S, out, y + 2 * ow + x)).intoArray(out, y + 2 * ow + x);
                            if (rows > 3) n.add(nn.mul(8f)).add(FloatVector.fromArray(S, m5, s + x)).add(FloatVector.fromArray(S, out, y + 3 * ow + x))
                                    .intoArray(out, y + 3 * ow + x);
                        }
                    else // last vector first: its overrun into the next rows is then overwritten by their own vectors
                        for (int x = (full - 1) / V * V; x >= 0; x -= V) {
                            FloatVector a1 = FloatVector.fromArray(S, m1, s + x), a2 = FloatVector.fromArray(S, m2, s + x);
                            FloatVector a3 = FloatVector.fromArray(S, m3, s + x), a4 = FloatVector.fromArray(S, m4, s + x);
                            FloatVector p = a1.add(a2), n = a1.sub(a2), pp = a3.add(a4), nn = a3.sub(a4);
                            FloatVector.fromArray(S, m0, s + x).add(p).add(pp).intoArray(out, y + x);
                            if (rows > 1) n.add(nn.mul(2f)).intoArray(out, y + ow + x);
                            if (rows > 2) p.add(pp.mul(4f)).intoArray(out, y + 2 * ow + x);
                            if (rows > 3) n.add(nn.mul(8f)).add(FloatVector.fromArray(S, m5, s + x)).intoArray(out, y + 3 * ow + x);
                        }
                    for (int x = full; x < ow; x++) {
                        int i = s + x, at = y + x;
                        float p = m1[i] + m2[i], n = m1[i] - m2[i], pp = m3[i] + m4[i], nn = m3[i] - m4[i];
                        out[at] += m0[i] + p + pp;
                        if (rows > 1) out[at + ow] += n + 2 * nn;
                        if (rows > 2) out[at + 2 * ow] += p + 4 * pp;
                        if (rows > 3) out[at + 3 * ow] += n + 8 * nn + m5[i];
                    }
                }
        }
    }


    /**
     * Winograd F(4, 3)'s row transform D = Bᵀd of one run: rows d0..d5 at src[j] from off[j] (a zero row where a row
     * lies outside the image), n floats in whole vectors (so past n up to the next multiple of V), into the six
     * transformed arrays at {@code to}. Arrays and offsets come in, not vectors: C2 boxes vectors passed to a call.
     */
    private static void rowTransform(float[][] src, int[] off, int n, float[][] d, int to) {
        float[] a0 = src[0], a1 = src[1], a2 = src[2], a3 = src[3], a4 = src[4], a5 = src[5];
        float[] t0 = d[0], t1 = d[1], t2 = d[2], t3 = d[3], t4 = d[4], t5 = d[5];
        int o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
        for (int x = 0; x < n; x += V) {
            FloatVector d0 = FloatVector.fromArray(S, a0, o0 + x), d1 = FloatVector.fromArray(S, a1, o1 + x),
                    d2 = FloatVector.fromArray(S, a2, o2 + x), d3 = FloatVector.fromArray(S, a3, o3 + x),
                    d4 = FloatVector.fromArray(S, a4, o4 + x), d5 = FloatVector.fromArray(S, a5, o5 + x);
            FloatVector u = d4.sub(d2.mul(4f)), v = d1.mul(4f).sub(d3), s = d4.sub(d2), e = d1.sub(d3).mul(2f);
            d0.mul(4f).sub(d2.mul(5f)).add(d4).intoArray(t0, to + x); // 4d0 − 5d2 + d4
            u.sub(v).intoArray(t1, to + x);                           // −4d1 − 4d2 + d3 + d4
            u.add(v).intoArray(t2, to + x);                           // 4d1 − 4d2 − d3 + d4
            s.sub(e).intoArray(t3, to + x);                           // −2d1 − d2 + 2d3 + d4
            s.add(e).intoArray(t4, to + x);                           // 2d1 − d2 − 2d3 + d4
            d1.mul(4f).sub(d3.mul(5f)).add(d5).intoArray(t5, to + x); // 4d1 − 5d3 + d5
        }
    }

    /**
     * Winograd F(4, 3)'s G (points 0, ±1, ±2, ∞): the weight transform U = G·g of three taps g, and, transposed, the way
     * back from the weight gradient's six products to the taps.
     */
    private static final double[][] WINOGRAD_G = {{1 / 4.0, 0, 0}, {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0},
            {1 / 24.0, 1 / 12.0, 1 / 6.0}, {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};

    /**
     * Weights as [out/OB][in][taps][OB] for the register blocks, zero past {@code out}. Transposed: out and in swap
     * roles (out = the convolution's input channels) and the taps are flipped, for the input gradient.
     */
    private static float[] packWeights(FloatBuffer W, int out, int in, int taps, boolean transposed) {
        int outPad = roundUp(out, OB);
        float[] wp = new float[outPad * in * taps], w = new float[out * in * taps];
        W.get(0, w, 0, w.length); // one bulk copy, not a bounds-checked get per element
        for (int co = 0; co < out; co++)
            for (int ci = 0; ci < in; ci++)
                for (int t = 0; t < taps; t++) {
                    float v = transposed ? w[(ci * out + co) * taps + (taps - 1 - t)] : w[(co * in + ci) * taps + t];
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
    private static void weightGradient(float[] xt, int lanes, float[] dy, int dyBase, int dyStride, int len, int oPad, int[] offs, float[] gwt, int gwtBase) {
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
                    at = gwtBase + ((cb + 0) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a00).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a01).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a02).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 1) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a10).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a11).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a12).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 2) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a20).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a21).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a22).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 3) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a30).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a31).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a32).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 4) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a40).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a41).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a42).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 5) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a50).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a51).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a52).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 6) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a60).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a61).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a62).intoArray(gwt, at + 2 * lanes);
                    at = gwtBase + ((cb + 7) * tapsPad + t0) * lanes + cl;
                    FloatVector.fromArray(S, gwt, at + 0 * lanes).add(a70).intoArray(gwt, at + 0 * lanes);
                    FloatVector.fromArray(S, gwt, at + 1 * lanes).add(a71).intoArray(gwt, at + 1 * lanes);
                    FloatVector.fromArray(S, gwt, at + 2 * lanes).add(a72).intoArray(gwt, at + 2 * lanes);
                }
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }
}
