package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Reductions;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

final class CpuReductions implements Reductions {
    private static final int GRAIN = 1 << 14;
    /** Rows a column sum adds in float before it adds their sum into its double accumulator. */
    private static final int FLOAT_ROWS = 32;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuReductions(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public void sum(Storage in, Storage out, int outer, int reduced, int inner, float alpha, boolean accumulate) {
        if (out == null) return;
        FloatBuffer X = f(in), Y = f(out);
        int outN = outer * inner;
        if (inner == 1) {
            parallel.forRange(outer, Math.max(1, GRAIN / Math.max(reduced, 1)), (s, e) -> {
                for (int o = s; o < e; o++) {
                    double acc = 0;
                    for (int r = 0, base = o * reduced; r < reduced; r++) acc += X.get(base + r);
                    float v = alpha * (float) acc;
                    Y.put(o, accumulate ? Y.get(o) + v : v);
                }
            });
            return;
        }
        // walk rows of the reduced axis in memory order, adding each run of up to FLOAT_ROWS rows in float (a loop
        // the JIT vectorizes; a double add per element was a bias gradient's whole cost), each run's sums into a
        // double accumulator per output element
        parallel.forRange(outN, Math.max(1, GRAIN / Math.max(reduced, 1)), (s, e) -> {
            double[] acc = new double[e - s];
            int cap = Math.min(inner, e - s);
            float[] row = new float[cap], run = new float[cap];
            int o0 = s / inner, o1 = (e - 1) / inner;
            for (int o = o0; o <= o1; o++) {
                int i0 = o == o0 ? s % inner : 0, i1 = o == o1 ? (e - 1) % inner + 1 : inner;
                int accBase = o * inner - s + i0, len = i1 - i0;
                for (int r0 = 0; r0 < reduced; r0 += FLOAT_ROWS) {
                    java.util.Arrays.fill(run, 0, len, 0f);
                    for (int r = r0, r1 = Math.min(reduced, r0 + FLOAT_ROWS); r < r1; r++) {
                        X.get((o * reduced + r) * inner + i0, row, 0, len); // staged: one bulk copy per row segment
                        for (int i = 0; i < len; i++) run[i] += row[i];
                    }
                    for (int i = 0; i < len; i++) acc[accBase + i] += run[i];
                }
            }
            for (int j = s; j < e; j++) {
                float v = alpha * (float) acc[j - s];
                Y.put(j, accumulate ? Y.get(j) + v : v);
            }
        });
    }

    @Override
    public void expand(Storage gradOut, Storage gradIn, int outer, int reduced, int inner, float alpha) {
        if (gradIn == null) return;
        FloatBuffer G = f(gradOut), GI = f(gradIn);
        // rows are (o, r) pairs in memory order; o and r advance together, so no division per row
        parallel.forRange(outer * reduced, Math.max(1, GRAIN / Math.max(inner, 1)), (s, e) -> {
            int o = s / reduced, r = s % reduced;
            for (int row = s; row < e; row++) {
                int gBase = o * inner, base = row * inner;
                if (inner == 1) GI.put(base, GI.get(base) + alpha * G.get(gBase));
                else for (int i = 0; i < inner; i++) GI.put(base + i, GI.get(base + i) + alpha * G.get(gBase + i));
                if (++r == reduced) {
                    r = 0;
                    o++;
                }
            }
        });
    }

    @Override
    public void softmax(Storage in, Storage out, int rows, int cols) {
        FloatBuffer X = f(in), Y = f(out);
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            for (int r = s; r < e; r++) softmaxRow(X, Y, r * cols, cols);
        });
    }

    /** Y[off..off+cols) = softmax(X[off..off+cols)). */
    static void softmaxRow(FloatBuffer X, FloatBuffer Y, int off, int cols) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < cols; j++) max = Math.max(max, X.get(off + j));
        double sum = 0;
        for (int j = 0; j < cols; j++) {
            float v = (float) Math.exp(X.get(off + j) - max);
            Y.put(off + j, v);
            sum += v;
        }
        float inv = (float) (1.0 / sum);
        for (int j = 0; j < cols; j++) Y.put(off + j, Y.get(off + j) * inv);
    }

    @Override
    public void softmaxBackward(Storage out, Storage gradOut, Storage gradIn, int rows, int cols) {
        if (gradIn == null) return;
        FloatBuffer Y = f(out), G = f(gradOut), GI = f(gradIn);
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(cols, 1)), (s, e) -> {
            for (int r = s; r < e; r++) softmaxBackwardRow(Y, G, GI, r * cols, cols);
        });
    }

    static void softmaxBackwardRow(FloatBuffer Y, FloatBuffer G, FloatBuffer GI, int off, int cols) {
        double dot = 0;
        for (int j = 0; j < cols; j++) dot += (double) G.get(off + j) * Y.get(off + j);
        float d = (float) dot;
        for (int j = 0; j < cols; j++) GI.put(off + j, GI.get(off + j) + Y.get(off + j) * (G.get(off + j) - d));
    }

    @Override
    public double sumOfSquares(Storage in, int n) {
        FloatBuffer X = f(in);
        int chunks = parallel.chunks(n, GRAIN);
        double[] partial = new double[chunks];
        parallel.forChunks(n, GRAIN, (c, s, e) -> {
            double acc = 0;
            for (int i = s; i < e; i++) {
                double v = X.get(i);
                acc += v * v;
            }
            partial[c] = acc;
        });
        double total = 0;
        for (double p : partial) total += p;
        return total;
    }
}
