package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Normalization;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * LayerNorm (per row, parallel over rows), LayerNorm over channels (parallel over positions) and BatchNorm2d (per channel, parallel over channels).
 * Statistics are two-pass sums in double (BatchNorm's per plane in float vector lanes, {@link VectorSums}, then in
 * double); the saved mean and rstd are the float32 values the forward normalized with, so backward reconstructs
 * exactly the same x̂ = (x − mean)·rstd. Backward sums run in float vector lanes per row or plane, then in double.
 */
final class CpuNormalization implements Normalization {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuNormalization(Parallel parallel) {
        this.parallel = parallel;
    }

    /** 1/√(var + eps) in double, rounded once: the one definition of rstd used by every kernel here. */
    static float rstd(double var, float eps) {
        return (float) (1.0 / Math.sqrt(var + eps));
    }

    // ---------------------------------------------------------------- LayerNorm

    /** Rows staged per block (one bulk copy of each operand in, one out): 32 rows of 64 channels are 8 KB each. */
    private static final int ROW_BLOCK_FLOATS = 1 << 11;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /** Rows per staged block for rows of cols values. */
    private static int rowBlock(int cols) {
        return Math.max(1, ROW_BLOCK_FLOATS / Math.max(cols, 1));
    }

    /**
     * Per row: the mean and Σ(x − mean)² in float vector lanes (the row staged), each lane sum then added in double;
     * y = (x − mean)·rstd·w + b.
     */
    @Override
    public void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                          int rows, int cols, float eps) {
        FloatBuffer X = f(in), Y = f(out), M = f(mean), R = f(rstd);
        float[] w = new float[cols], b = new float[cols];
        f(weight).get(0, w, 0, cols);
        f(bias).get(0, b, 0, cols);
        int block = rowBlock(cols);
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            float[] x = new float[block * cols], m = new float[block], rs = new float[block];
            for (int r0 = s; r0 < e; r0 += block) {
                int n = Math.min(block, e - r0);
                X.get(r0 * cols, x, 0, n * cols);
                for (int i = 0; i < n; i++) {
                    int off = i * cols;
                    float mu = (float) (VectorSums.sum(x, off, cols) / cols);
                    float r = rstd(VectorSums.squaredDeviations(x, off, mu, cols) / cols, eps);
                    m[i] = mu;
                    rs[i] = r;
                    normalizeRow(x, off, cols, mu, r, w, b);
                }
                M.put(r0, m, 0, n);
                R.put(r0, rs, 0, n);
                Y.put(r0 * cols, x, 0, n * cols);
            }
        });
    }

    /** x[off..off+cols) = (x − m)·rs·w + b, in place. */
    private static void normalizeRow(float[] x, int off, int cols, float m, float rs, float[] w, float[] b) {
        FloatVector mv = FloatVector.broadcast(S, m), rv = FloatVector.broadcast(S, rs);
        int j = 0;
        for (int bound = S.loopBound(cols); j < bound; j += S.length())
            FloatVector.fromArray(S, x, off + j).sub(mv).mul(rv).fma(FloatVector.fromArray(S, w, j), FloatVector.fromArray(S, b, j))
                    .intoArray(x, off + j);
        for (; j < cols; j++) x[off + j] = Math.fma((x[off + j] - m) * rs, w[j], b[j]);
    }

    /**
     * With x̂ = (x − mean)·rstd and d = dy·w: dx = rstd·(d − mean(d) − x̂·mean(d·x̂)) per row;
     * dw = Σ_rows dy·x̂, db = Σ_rows dy. Rows are split into one static chunk per thread and staged in blocks; a row's
     * two sums run in float vector lanes (a double accumulator per element is a chain of dependent adds: a ViT-S
     * backward spent 3.7× its forward's time there), dw and db in float lanes per block of rows, added per block into
     * the chunk's double partial sums, which are added up in chunk order afterwards (no races, fixed order).
     */
    @Override
    public void layerNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                  Storage gradIn, Storage gradWeight, Storage gradBias, int rows, int cols) {
        if (gradIn == null && gradWeight == null && gradBias == null) return;
        FloatBuffer G = f(gradOut), X = f(in), M = f(mean), R = f(rstd);
        FloatBuffer GI = f(gradIn), GW = f(gradWeight), GB = f(gradBias);
        float[] w = new float[cols];
        f(weight).get(0, w, 0, cols);
        boolean params = GW != null || GB != null;
        int chunks = parallel.chunks(rows, Math.max(1, GRAIN / Math.max(cols, 1))), block = rowBlock(cols);
        double[][] pw = params ? new double[chunks][cols] : null, pb = params ? new double[chunks][cols] : null;
        parallel.forRange(chunks, 1, (cs, ce) -> {
            float[] x = new float[block * cols], g = new float[block * cols], gi = GI != null ? new float[block * cols] : null;
            float[] m = new float[block], rs = new float[block], fw = new float[cols], fb = new float[cols];
            for (int c = cs; c < ce; c++) {
                int c0 = (int) ((long) rows * c / chunks), c1 = (int) ((long) rows * (c + 1) / chunks);
                for (int r0 = c0; r0 < c1; r0 += block) {
                    int n = Math.min(block, c1 - r0), len = n * cols;
                    X.get(r0 * cols, x, 0, len);
                    G.get(r0 * cols, g, 0, len);
                    M.get(r0, m, 0, n);
                    R.get(r0, rs, 0, n);
                    if (gi != null) GI.get(r0 * cols, gi, 0, len);
                    if (params) {
                        java.util.Arrays.fill(fw, 0f);
                        java.util.Arrays.fill(fb, 0f);
                    }
                    for (int i = 0; i < n; i++) layerNormBackwardRow(x, g, gi, i * cols, cols, m[i], rs[i], w, params ? fw : null, fb);
                    if (params)
                        for (int j = 0; j < cols; j++) {
                            pw[c][j] += fw[j];
                            pb[c][j] += fb[j];
                        }
                    if (gi != null) GI.put(r0 * cols, gi, 0, len);
                }
            }
        });
        if (!params) return;
        for (int j = 0; j < cols; j++) {
            double sw = 0, sb = 0;
            for (int c = 0; c < chunks; c++) {
                sw += pw[c][j];
                sb += pb[c][j];
            }
            if (GW != null) GW.put(j, GW.get(j) + (float) sw);
            if (GB != null) GB.put(j, GB.get(j) + (float) sb);
        }
    }

    /** One row at off of the staged blocks: fw += dy·x̂ and fb += dy (fw null: skipped), gi += dx (gi null: skipped). */
    private static void layerNormBackwardRow(float[] x, float[] g, float[] gi, int off, int cols, float m, float rs,
                                             float[] w, float[] fw, float[] fb) {
        FloatVector mv = FloatVector.broadcast(S, m), rv = FloatVector.broadcast(S, rs);
        FloatVector sd = FloatVector.zero(S), sdx = sd;
        int bound = S.loopBound(cols), j = 0;
        for (; j < bound; j += S.length()) {
            FloatVector xh = FloatVector.fromArray(S, x, off + j).sub(mv).mul(rv), gv = FloatVector.fromArray(S, g, off + j);
            FloatVector d = gv.mul(FloatVector.fromArray(S, w, j));
            sd = sd.add(d);
            sdx = d.fma(xh, sdx);
            if (fw != null) {
                gv.fma(xh, FloatVector.fromArray(S, fw, j)).intoArray(fw, j);
                gv.add(FloatVector.fromArray(S, fb, j)).intoArray(fb, j);
            }
        }
        double sumD = sd.reduceLanes(VectorOperators.ADD), sumDX = sdx.reduceLanes(VectorOperators.ADD);
        for (int k = j; k < cols; k++) {
            float xh = (x[off + k] - m) * rs, d = g[off + k] * w[k];
            sumD += d;
            sumDX += (double) d * xh;
            if (fw != null) {
                fw[k] = Math.fma(g[off + k], xh, fw[k]);
                fb[k] += g[off + k];
            }
        }
        if (gi == null) return;
        float meanD = (float) (sumD / cols), meanDX = (float) (sumDX / cols);
        FloatVector md = FloatVector.broadcast(S, meanD), mdx = FloatVector.broadcast(S, meanDX);
        for (j = 0; j < bound; j += S.length()) {
            FloatVector xh = FloatVector.fromArray(S, x, off + j).sub(mv).mul(rv);
            FloatVector d = FloatVector.fromArray(S, g, off + j).mul(FloatVector.fromArray(S, w, j));
            d.sub(md).sub(xh.mul(mdx)).fma(rv, FloatVector.fromArray(S, gi, off + j)).intoArray(gi, off + j);
        }
        for (int k = j; k < cols; k++) {
            float xh = (x[off + k] - m) * rs, d = g[off + k] * w[k];
            gi[off + k] = Math.fma(d - meanD - xh * meanDX, rs, gi[off + k]);
        }
    }

    // ---------------------------------------------------------------- LayerNorm over the channels of [n, c, hw]

    /**
     * Statistics per (image, position) over the c channels, which lie hw apart in memory. The n·hw positions are
     * split into contiguous ranges; a range is walked one image segment at a time, channel by channel over the
     * segment's positions, so every read is a contiguous run of a channel plane.
     */
    @Override
    public void layerNormChannels(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                                  int n, int c, int hw, float eps) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out), M = f(mean), R = f(rstd);
        parallel.forRange(n * hw, Math.max(1, GRAIN / Math.max(c, 1)), (s, e) -> {
            int cap = Math.min(hw, e - s);
            double[] sum = new double[cap], sq = new double[cap];
            float[] row = new float[cap], m = new float[cap], rs = new float[cap];
            for (int q = s; q < e; ) {
                int img = q / hw, p0 = q % hw, len = Math.min(hw - p0, e - q);
                java.util.Arrays.fill(sum, 0, len, 0.0);
                java.util.Arrays.fill(sq, 0, len, 0.0);
                for (int ch = 0; ch < c; ch++) {
                    X.get((img * c + ch) * hw + p0, row, 0, len);
                    for (int i = 0; i < len; i++) sum[i] += row[i];
                }
                for (int i = 0; i < len; i++) sum[i] /= c;
                for (int ch = 0; ch < c; ch++) {
                    X.get((img * c + ch) * hw + p0, row, 0, len);
                    for (int i = 0; i < len; i++) {
                        double d = row[i] - sum[i];
                        sq[i] += d * d;
                    }
                }
                for (int i = 0; i < len; i++) {
                    m[i] = (float) sum[i];
                    rs[i] = rstd(sq[i] / c, eps);
                }
                M.put(q, m, 0, len);
                R.put(q, rs, 0, len);
                for (int ch = 0; ch < c; ch++) {
                    int off = (img * c + ch) * hw + p0;
                    X.get(off, row, 0, len);
                    float wc = W.get(ch), bc = B.get(ch);
                    for (int i = 0; i < len; i++) row[i] = (row[i] - m[i]) * rs[i] * wc + bc;
                    Y.put(off, row, 0, len);
                }
                q += len;
            }
        });
    }

    /**
     * As {@link #layerNormBackward} with the roles of rows and columns taken by positions and channels:
     * dx = rstd·(d − mean_c(d) − x̂·mean_c(d·x̂)) with d = dy·w; dw[ch] = Σ dy·x̂ and db[ch] = Σ dy over images and
     * positions, one double partial sum per chunk of positions, added up in chunk order.
     */
    @Override
    public void layerNormChannelsBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                          Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw) {
        if (gradIn == null && gradWeight == null && gradBias == null) return;
        FloatBuffer G = f(gradOut), X = f(in), W = f(weight), M = f(mean), R = f(rstd);
        FloatBuffer GI = f(gradIn), GW = f(gradWeight), GB = f(gradBias);
        boolean params = GW != null || GB != null;
        int total = n * hw, grain = Math.max(1, GRAIN / Math.max(c, 1));
        int chunks = parallel.chunks(total, grain);
        double[][] pw = params ? new double[chunks][c] : null, pb = params ? new double[chunks][c] : null;
        parallel.forChunks(total, grain, (chunk, s, e) -> {
            int cap = Math.min(hw, e - s);
            double[] sumD = new double[cap], sumDX = new double[cap];
            float[] g = new float[cap], x = new float[cap], m = new float[cap], rs = new float[cap], dx = new float[cap];
            float[] meanD = new float[cap], meanDX = new float[cap];
            for (int q = s; q < e; ) {
                int img = q / hw, p0 = q % hw, len = Math.min(hw - p0, e - q);
                M.get(q, m, 0, len);
                R.get(q, rs, 0, len);
                java.util.Arrays.fill(sumD, 0, len, 0.0);
                java.util.Arrays.fill(sumDX, 0, len, 0.0);
                for (int ch = 0; ch < c; ch++) {
                    int off = (img * c + ch) * hw + p0;
                    G.get(off, g, 0, len);
                    X.get(off, x, 0, len);
                    float wc = W.get(ch);
                    double accW = 0, accB = 0;
                    for (int i = 0; i < len; i++) {
                        float xh = (x[i] - m[i]) * rs[i];
                        double d = (double) g[i] * wc;
                        sumD[i] += d;
                        sumDX[i] += d * xh;
                        accW += (double) g[i] * xh;
                        accB += g[i];
                    }
                    if (params) {
                        pw[chunk][ch] += accW;
                        pb[chunk][ch] += accB;
                    }
                }
                if (GI != null) {
                    for (int i = 0; i < len; i++) {
                        meanD[i] = (float) (sumD[i] / c);
                        meanDX[i] = (float) (sumDX[i] / c);
                    }
                    for (int ch = 0; ch < c; ch++) {
                        int off = (img * c + ch) * hw + p0;
                        G.get(off, g, 0, len);
                        X.get(off, x, 0, len);
                        GI.get(off, dx, 0, len);
                        float wc = W.get(ch);
                        for (int i = 0; i < len; i++) {
                            float xh = (x[i] - m[i]) * rs[i];
                            dx[i] += rs[i] * (g[i] * wc - meanD[i] - xh * meanDX[i]);
                        }
                        GI.put(off, dx, 0, len);
                    }
                }
                q += len;
            }
        });
        if (!params) return;
        for (int ch = 0; ch < c; ch++) {
            double sw = 0, sb = 0;
            for (int k = 0; k < chunks; k++) {
                sw += pw[k][ch];
                sb += pb[k][ch];
            }
            if (GW != null) GW.put(ch, GW.get(ch) + (float) sw);
            if (GB != null) GB.put(ch, GB.get(ch) + (float) sb);
        }
    }

    // ---------------------------------------------------------------- BatchNorm2d over [n, c, hw]
    //
    // Threads take groups of adjacent channels, each group's run in an image (group·hw values, contiguous) at least
    // RUN floats long, and walk the images in order: at hw = 64 one channel's planes are 256-byte runs scattered
    // n·c·hw apart, which read at a third of the bandwidth, and walking whole images instead streams every pass
    // from memory (a group's data, n·group·hw values, stays in the L2 cache between passes). Each channel's sums run
    // over the images in order in double, so results do not depend on the thread count.

    /**
     * Values per image and channel group, at least (one channel when a plane alone is longer). A ResNet-110 step
     * measured 1% faster at 2048 than at 1024, and slower at 4096 (same-JVM A/B).
     */
    private static final int RUN = 2048;

    /** Channels per group for planes of hw values. */
    private static int group(int c, int hw) {
        return Math.max(1, Math.min(c, RUN / Math.max(hw, 1)));
    }

    @Override
    public void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                               Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum,
                               Storage residual, boolean relu) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out), S = f(residual), M = f(mean), R = f(rstd);
        FloatBuffer RM = f(runningMean), RV = f(runningVar);
        int gc = group(c, hw), groups = (c + gc - 1) / gc;
        long count = (long) n * hw;
        parallel.forRange(groups, 1, (s, e) -> {
            float[] x = new float[gc * hw], r = S != null ? new float[gc * hw] : null;
            double[] mu = new double[gc], m2 = new double[gc];
            long[] cnt = new long[gc];
            float[] scale = new float[gc], shift = new float[gc];
            for (int grp = s; grp < e; grp++) {
                int c0 = grp * gc, k = Math.min(gc, c - c0), len = k * hw;
                // statistics in one read: per plane its mean and Σ(x − mean)² (two vector passes over the staged
                // plane), merged into the channel's (count, mean, M2) with Chan et al.'s pairwise update in double
                java.util.Arrays.fill(mu, 0);
                java.util.Arrays.fill(m2, 0);
                java.util.Arrays.fill(cnt, 0);
                for (int img = 0; img < n; img++) {
                    X.get((img * c + c0) * hw, x, 0, len);
                    for (int j = 0; j < k; j++) {
                        double pm = VectorSums.sum(x, j * hw, hw) / hw, pm2 = VectorSums.squaredDeviations(x, j * hw, (float) pm, hw);
                        merge(mu, m2, cnt, j, pm, pm2, hw);
                    }
                }
                for (int j = 0; j < k; j++) {
                    int ch = c0 + j;
                    double var = m2[j] / count;
                    float m = (float) mu[j], rs = rstd(var, eps);
                    M.put(ch, m);
                    R.put(ch, rs);
                    // PyTorch: normalize with the biased variance, track the unbiased one (a single value has none: keep the biased)
                    if (RM != null) RM.put(ch, (float) ((1.0 - momentum) * RM.get(ch) + momentum * mu[j]));
                    if (RV != null) {
                        double unbiased = count > 1 ? m2[j] / (count - 1) : var;
                        RV.put(ch, (float) ((1.0 - momentum) * RV.get(ch) + momentum * unbiased));
                    }
                    scale[j] = rs * W.get(ch);
                    shift[j] = B.get(ch) - m * scale[j];
                }
                normalizeGroup(X, Y, S, relu, n, c, hw, c0, k, scale, shift, x, r);
            }
        });
    }

    /** Merges a block of {@code nb} values with mean mb and Σ(x − mb)² m2b into entry j's running (count, mean, M2). */
    private static void merge(double[] mean, double[] m2, long[] count, int j, double mb, double m2b, long nb) {
        long na = count[j], total = na + nb;
        double delta = mb - mean[j];
        mean[j] += delta * nb / total;
        m2[j] += m2b + delta * delta * ((double) na * nb / total);
        count[j] = total;
    }

    @Override
    public void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar,
                              Storage out, int n, int c, int hw, float eps, Storage residual, boolean relu) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out), S = f(residual), RM = f(runningMean), RV = f(runningVar);
        int gc = group(c, hw), groups = (c + gc - 1) / gc;
        parallel.forRange(groups, 1, (s, e) -> {
            float[] x = new float[gc * hw], r = S != null ? new float[gc * hw] : null, scale = new float[gc], shift = new float[gc];
            for (int grp = s; grp < e; grp++) {
                int c0 = grp * gc, k = Math.min(gc, c - c0);
                for (int j = 0; j < k; j++) {
                    float rs = rstd(RV.get(c0 + j), eps);
                    scale[j] = rs * W.get(c0 + j);
                    shift[j] = B.get(c0 + j) - RM.get(c0 + j) * scale[j];
                }
                normalizeGroup(X, Y, S, relu, n, c, hw, c0, k, scale, shift, x, r);
            }
        });
    }

    /**
     * y = x·scale + shift over channels c0..c0+k−1 (scale = rstd·w, shift = b − mean·scale), then y += residual (S,
     * when not null) and y = max(y, 0) when relu; x and r are staging arrays of k·hw values.
     */
    private static void normalizeGroup(FloatBuffer X, FloatBuffer Y, FloatBuffer S, boolean relu, int n, int c, int hw,
                                       int c0, int k, float[] scale, float[] shift, float[] x, float[] r) {
        int len = k * hw;
        for (int img = n - 1; img >= 0; img--) { // backwards: the statistics pass's last runs are still in the cache
            int off = (img * c + c0) * hw;
            X.get(off, x, 0, len);
            if (S != null) S.get(off, r, 0, len);
            for (int j = 0; j < k; j++) { // one loop per case, each simple enough to vectorize
                float a = scale[j], b = shift[j];
                int from = j * hw, to = from + hw;
                if (S != null && relu) for (int i = from; i < to; i++) x[i] = Math.max(x[i] * a + b + r[i], 0f);
                else if (S != null) for (int i = from; i < to; i++) x[i] = x[i] * a + b + r[i];
                else if (relu) for (int i = from; i < to; i++) x[i] = Math.max(x[i] * a + b, 0f);
                else for (int i = from; i < to; i++) x[i] = x[i] * a + b;
            }
            Y.put(off, x, 0, len);
        }
    }

    /**
     * Per channel, with x̂ = (x − mean)·rstd over the M = n·hw elements: dw = Σ dy·x̂, db = Σ dy;
     * training: dx = w·rstd·(dy − db/M − x̂·dw/M) (the statistics depend on x); eval: dx = w·rstd·dy.
     * With a fused ReLU, dy is gradOut masked by its output; the residual's gradient += that dy in the sums' pass.
     */
    @Override
    public void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                  Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training,
                                  Storage reluOut, Storage gradResidual, boolean overwriteGradIn, boolean overwriteGradResidual) {
        if (gradIn == null && gradWeight == null && gradBias == null && gradResidual == null) return;
        FloatBuffer G = f(gradOut), X = f(in), W = f(weight), M = f(mean), R = f(rstd);
        FloatBuffer GI = f(gradIn), GW = f(gradWeight), GB = f(gradBias), Y = f(reluOut), GR = f(gradResidual);
        long count = (long) n * hw;
        // the sums are needed for dx only in training mode; the residual's gradient rides along with them
        boolean sums = GW != null || GB != null || (training && GI != null);
        int gc = group(c, hw), groups = (c + gc - 1) / gc;
        parallel.forRange(groups, 1, (s, e) -> {
            float[] g = new float[gc * hw], x = new float[gc * hw], t = new float[gc * hw];
            double[] sumDy = new double[gc], sumDyX = new double[gc];
            float[] a = new float[gc], b = new float[gc], kk = new float[gc], m = new float[gc];
            for (int grp = s; grp < e; grp++) {
                int c0 = grp * gc, k = Math.min(gc, c - c0), len = k * hw;
                for (int j = 0; j < k; j++) m[j] = M.get(c0 + j);
                java.util.Arrays.fill(sumDy, 0);
                java.util.Arrays.fill(sumDyX, 0);
                // pass one: Σ dy and Σ dy·(x − mean) per channel, and the residual's gradient
                if (sums || GR != null)
                    for (int img = 0; img < n; img++) {
                        int off = (img * c + c0) * hw;
                        gradient(G, Y, off, g, t, len);
                        if (GR != null && overwriteGradResidual) GR.put(off, g, 0, len);
                        else if (GR != null) {
                            GR.get(off, t, 0, len);
                            for (int i = 0; i < len; i++) t[i] += g[i];
                            GR.put(off, t, 0, len);
                        }
                        if (!sums) continue;
                        X.get(off, x, 0, len);
                        for (int j = 0; j < k; j++) {
                            sumDy[j] += VectorSums.sum(g, j * hw, hw);
                            sumDyX[j] += VectorSums.centeredDot(g, x, j * hw, m[j], hw);
                        }
                    }
                for (int j = 0; j < k; j++) {
                    int ch = c0 + j;
                    float rs = R.get(ch);
                    sumDyX[j] *= rs;
                    if (GW != null) GW.put(ch, GW.get(ch) + (float) sumDyX[j]);
                    if (GB != null) GB.put(ch, GB.get(ch) + (float) sumDy[j]);
                    // pass two's dx = scale·(dy − meanDy − (x − m)·rs·meanDyX) = a·dy + b·(x − m) + kk
                    float scale = W.get(ch) * rs;
                    float meanDy = training ? (float) (sumDy[j] / count) : 0f, meanDyX = training ? (float) (sumDyX[j] / count) : 0f;
                    a[j] = scale;
                    b[j] = -scale * rs * meanDyX;
                    kk[j] = -scale * meanDy;
                }
                if (GI == null) continue;
                // backwards through the images: pass one's last runs are still in the cache; and where pass one wrote
                // the residual's gradient, that is the masked dy, read as one stream instead of two
                boolean masked = GR != null && overwriteGradResidual;
                for (int img = n - 1; img >= 0; img--) {
                    int off = (img * c + c0) * hw;
                    if (masked) GR.get(off, g, 0, len);
                    else gradient(G, Y, off, g, t, len);
                    X.get(off, x, 0, len);
                    if (!overwriteGradIn) GI.get(off, t, 0, len);
                    for (int j = 0; j < k; j++) {
                        float aj = a[j], bj = b[j], kj = kk[j], mj = m[j];
                        if (overwriteGradIn) for (int i = j * hw, to = i + hw; i < to; i++) t[i] = aj * g[i] + bj * (x[i] - mj) + kj;
                        else for (int i = j * hw, to = i + hw; i < to; i++) t[i] += aj * g[i] + bj * (x[i] - mj) + kj;
                    }
                    GI.put(off, t, 0, len);
                }
            }
        });
    }

    /** g = gradOut's run at off, zeroed where the fused ReLU's output Y is not positive (Y null: no ReLU); y is scratch. */
    private static void gradient(FloatBuffer G, FloatBuffer Y, int off, float[] g, float[] y, int len) {
        G.get(off, g, 0, len);
        if (Y == null) return;
        Y.get(off, y, 0, len);
        CpuElementwise.reluMask(y, g, len);
    }
}
