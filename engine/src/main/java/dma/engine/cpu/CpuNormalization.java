package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Normalization;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * LayerNorm (per row, parallel over rows), LayerNorm over channels (parallel over positions) and BatchNorm2d (per channel, parallel over channels).
 * Statistics are two-pass sums in double; the saved mean and rstd are the float32 values the
 * forward normalized with, so backward reconstructs exactly the same x̂ = (x − mean)·rstd.
 */
final class CpuNormalization implements Normalization {
    private static final int GRAIN = 1 << 14;

    /** 1/√(var + eps) in double, rounded once: the one definition of rstd used by every kernel here. */
    static float rstd(double var, float eps) {
        return (float) (1.0 / Math.sqrt(var + eps));
    }

    // ---------------------------------------------------------------- LayerNorm

    @Override
    public void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                          int rows, int cols, float eps) {
        FloatBuffer X = f(in), Y = f(out), M = f(mean), R = f(rstd);
        float[] w = new float[cols], b = new float[cols];
        f(weight).get(0, w, 0, cols);
        f(bias).get(0, b, 0, cols);
        Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            float[] x = new float[cols]; // one row staged: a bulk copy in, plain arrays for the arithmetic, a bulk copy out
            for (int r = s; r < e; r++) {
                int off = r * cols;
                X.get(off, x, 0, cols);
                double sum = 0;
                for (int j = 0; j < cols; j++) sum += x[j];
                double mu = sum / cols;
                double sq = 0;
                for (int j = 0; j < cols; j++) {
                    double d = x[j] - mu;
                    sq += d * d;
                }
                float m = (float) mu, rs = rstd(sq / cols, eps);
                M.put(r, m);
                R.put(r, rs);
                for (int j = 0; j < cols; j++) x[j] = (x[j] - m) * rs * w[j] + b[j];
                Y.put(off, x, 0, cols);
            }
        });
    }

    /**
     * With x̂ = (x − mean)·rstd and d = dy·w: dx = rstd·(d − mean(d) − x̂·mean(d·x̂)) per row;
     * dw = Σ_rows dy·x̂, db = Σ_rows dy. Rows are split into one static chunk per thread; each chunk keeps
     * its own double partial sums of dw and db, added up in chunk order afterwards (no races, fixed order).
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
        int chunks = Parallel.chunks(rows, Math.max(1, GRAIN / Math.max(cols, 1)));
        double[][] pw = params ? new double[chunks][cols] : null, pb = params ? new double[chunks][cols] : null;
        Parallel.forRange(chunks, 1, (cs, ce) -> {
            float[] xhat = new float[cols], g = new float[cols], gi = new float[cols];
            for (int c = cs; c < ce; c++) {
                int r0 = (int) ((long) rows * c / chunks), r1 = (int) ((long) rows * (c + 1) / chunks);
                double[] cw = params ? pw[c] : null, cb = params ? pb[c] : null;
                for (int r = r0; r < r1; r++) {
                    int off = r * cols;
                    float m = M.get(r), rs = R.get(r);
                    X.get(off, xhat, 0, cols);
                    G.get(off, g, 0, cols);
                    double sumD = 0, sumDX = 0;
                    for (int j = 0; j < cols; j++) {
                        float xh = (xhat[j] - m) * rs, dy = g[j];
                        xhat[j] = xh;
                        double d = (double) dy * w[j];
                        sumD += d;
                        sumDX += d * xh;
                    }
                    if (params)
                        for (int j = 0; j < cols; j++) {
                            cw[j] += (double) g[j] * xhat[j];
                            cb[j] += g[j];
                        }
                    if (GI == null) continue;
                    float meanD = (float) (sumD / cols), meanDX = (float) (sumDX / cols);
                    GI.get(off, gi, 0, cols);
                    for (int j = 0; j < cols; j++) gi[j] += rs * (g[j] * w[j] - meanD - xhat[j] * meanDX);
                    GI.put(off, gi, 0, cols);
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
        Parallel.forRange(n * hw, Math.max(1, GRAIN / Math.max(c, 1)), (s, e) -> {
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
        int chunks = Parallel.chunks(total, grain);
        double[][] pw = params ? new double[chunks][c] : null, pb = params ? new double[chunks][c] : null;
        Parallel.forChunks(total, grain, (chunk, s, e) -> {
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

    @Override
    public void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                               Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum,
                               Storage residual, boolean relu) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out), M = f(mean), R = f(rstd);
        FloatBuffer RM = f(runningMean), RV = f(runningVar), S = f(residual);
        long count = (long) n * hw;
        Parallel.forRange(c, Math.max(1, GRAIN / Math.max(n * hw, 1)), (s, e) -> {
            float[] x = new float[hw], y = new float[hw];
            for (int ch = s; ch < e; ch++) {
                double sum = 0;
                for (int img = 0; img < n; img++) {
                    X.get((img * c + ch) * hw, x, 0, hw);
                    sum += VectorSums.sum(x, hw);
                }
                double mu = sum / count;
                double sq = 0;
                for (int img = 0; img < n; img++) { // about the float mean: its rounding shifts Σ(x − μ)² by count·δ², far below float
                    X.get((img * c + ch) * hw, x, 0, hw);
                    sq += VectorSums.squaredDeviations(x, (float) mu, hw);
                }
                double var = sq / count;
                float m = (float) mu, rs = rstd(var, eps);
                M.put(ch, m);
                R.put(ch, rs);
                // PyTorch: normalize with the biased variance, track the unbiased one (a single value has none: keep the biased)
                if (RM != null) RM.put(ch, (float) ((1.0 - momentum) * RM.get(ch) + momentum * mu));
                if (RV != null) {
                    double unbiased = count > 1 ? sq / (count - 1) : var;
                    RV.put(ch, (float) ((1.0 - momentum) * RV.get(ch) + momentum * unbiased));
                }
                normalizeChannel(X, Y, S, relu, ch, n, c, hw, m, rs, W.get(ch), B.get(ch), x, y);
            }
        });
    }

    @Override
    public void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar,
                              Storage out, int n, int c, int hw, float eps, Storage residual, boolean relu) {
        FloatBuffer X = f(in), W = f(weight), B = f(bias), Y = f(out), RM = f(runningMean), RV = f(runningVar), S = f(residual);
        Parallel.forRange(c, Math.max(1, GRAIN / Math.max(n * hw, 1)), (s, e) -> {
            float[] x = new float[hw], y = new float[hw];
            for (int ch = s; ch < e; ch++)
                normalizeChannel(X, Y, S, relu, ch, n, c, hw, RM.get(ch), rstd(RV.get(ch), eps), W.get(ch), B.get(ch), x, y);
        });
    }

    /**
     * y = (x − m)·rs·w + b over one channel, one image's run of hw values at a time through the arrays x and y;
     * then y += residual (S, when not null) and y = max(y, 0) when relu.
     */
    private static void normalizeChannel(FloatBuffer X, FloatBuffer Y, FloatBuffer S, boolean relu, int ch, int n, int c, int hw,
                                         float m, float rs, float w, float b, float[] x, float[] y) {
        for (int img = 0; img < n; img++) {
            int off = (img * c + ch) * hw;
            X.get(off, x, 0, hw);
            for (int i = 0; i < hw; i++) y[i] = (x[i] - m) * rs * w + b;
            if (S != null) {
                S.get(off, x, 0, hw);
                for (int i = 0; i < hw; i++) y[i] += x[i];
            }
            if (relu) for (int i = 0; i < hw; i++) y[i] = Math.max(y[i], 0f);
            Y.put(off, y, 0, hw);
        }
    }

    /**
     * Per channel, with x̂ = (x − mean)·rstd over the M = n·hw elements: dw = Σ dy·x̂, db = Σ dy;
     * training: dx = w·rstd·(dy − db/M − x̂·dw/M) (the statistics depend on x); eval: dx = w·rstd·dy.
     */
    @Override
    public void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                  Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training,
                                  Storage reluOut, Storage gradResidual) {
        if (gradIn == null && gradWeight == null && gradBias == null && gradResidual == null) return;
        FloatBuffer G = f(gradOut), X = f(in), W = f(weight), M = f(mean), R = f(rstd);
        FloatBuffer GI = f(gradIn), GW = f(gradWeight), GB = f(gradBias), Y = f(reluOut), GR = f(gradResidual);
        long count = (long) n * hw;
        Parallel.forRange(c, Math.max(1, GRAIN / Math.max(n * hw, 1)), (s, e) -> {
            float[] x = new float[hw], g = new float[hw], gi = new float[hw];
            for (int ch = s; ch < e; ch++) {
                float m = M.get(ch), rs = R.get(ch);
                double sumDy = 0, sumDyX = 0;
                // the sums are needed for dx only in training mode; the residual's gradient rides along with them
                boolean sums = GW != null || GB != null || training;
                if (sums || GR != null) {
                    for (int img = 0; img < n; img++) {
                        int off = (img * c + ch) * hw;
                        gradient(G, Y, off, g, x, hw);
                        if (GR != null) {
                            GR.get(off, gi, 0, hw);
                            for (int i = 0; i < hw; i++) gi[i] += g[i];
                            GR.put(off, gi, 0, hw);
                        }
                        if (!sums) continue;
                        X.get(off, x, 0, hw);
                        sumDy += VectorSums.sum(g, hw);
                        sumDyX += VectorSums.centeredDot(g, x, m, hw);
                    }
                    sumDyX *= rs;
                    if (GW != null) GW.put(ch, GW.get(ch) + (float) sumDyX);
                    if (GB != null) GB.put(ch, GB.get(ch) + (float) sumDy);
                }
                if (GI == null) continue;
                float scale = W.get(ch) * rs;
                float meanDy = training ? (float) (sumDy / count) : 0f, meanDyX = training ? (float) (sumDyX / count) : 0f;
                for (int img = 0; img < n; img++) {
                    int off = (img * c + ch) * hw;
                    gradient(G, Y, off, g, x, hw);
                    X.get(off, x, 0, hw);
                    GI.get(off, gi, 0, hw);
                    for (int i = 0; i < hw; i++) gi[i] += scale * (g[i] - meanDy - (x[i] - m) * rs * meanDyX);
                    GI.put(off, gi, 0, hw);
                }
            }
        });
    }

    /** g = gradOut's run at off, zeroed where the fused ReLU's output Y is not positive (Y null: no ReLU); y is scratch. */
    private static void gradient(FloatBuffer G, FloatBuffer Y, int off, float[] g, float[] y, int hw) {
        G.get(off, g, 0, hw);
        if (Y == null) return;
        Y.get(off, y, 0, hw);
        CpuElementwise.reluMask(y, g, hw);
    }
}
