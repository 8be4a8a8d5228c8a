package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Losses;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/** Cross-entropy fused with log-softmax (one pass per row) and the L1 loss. */
final class CpuLosses implements Losses {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuLosses(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public void crossEntropy(Storage logits, Storage targets, float smoothing, Storage loss, Storage probs, int rows, int classes) {
        FloatBuffer X = f(logits), T = f(targets), L = f(loss), P = f(probs);
        double uniform = (double) smoothing / classes, keep = 1.0 - smoothing;
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(classes, 1)), (s, e) -> {
            for (int r = s; r < e; r++) {
                int off = r * classes;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < classes; j++) max = Math.max(max, X.get(off + j));
                double sum = 0;
                for (int j = 0; j < classes; j++) sum += Math.exp(X.get(off + j) - max);
                // −Σ t'·log p with log p = x − logsumexp(x): never takes the log of an underflowed probability
                double lse = max + Math.log(sum), acc = 0;
                for (int j = 0; j < classes; j++) {
                    float x = X.get(off + j);
                    acc += (T.get(off + j) * keep + uniform) * (lse - x);
                    P.put(off + j, (float) (Math.exp(x - max) / sum));
                }
                L.put(r, (float) acc);
            }
        });
    }

    @Override
    public void crossEntropyBackward(Storage probs, Storage targets, float smoothing, Storage gradLoss, float scale,
                                     Storage gradLogits, int rows, int classes) {
        if (gradLogits == null) return;
        FloatBuffer P = f(probs), T = f(targets), G = f(gradLogits);
        float g = f(gradLoss).get(0) * scale;
        float uniform = smoothing / classes, keep = 1f - smoothing;
        int n = rows * classes;
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) G.put(i, G.get(i) + g * (P.get(i) - (T.get(i) * keep + uniform)));
        });
    }

    @Override
    public void l1(Storage a, Storage b, Storage loss, int n) {
        FloatBuffer A = f(a), B = f(b);
        int chunks = parallel.chunks(n, GRAIN);
        double[] partial = new double[chunks];
        parallel.forChunks(n, GRAIN, (c, s, e) -> {
            double acc = 0;
            for (int i = s; i < e; i++) acc += Math.abs(A.get(i) - B.get(i));
            partial[c] = acc;
        });
        // partials are added in chunk order, so the result depends only on the thread count
        double total = 0;
        for (double p : partial) total += p;
        f(loss).put(0, n == 0 ? Float.NaN : (float) (total / n));
    }

    @Override
    public void l1Backward(Storage a, Storage b, Storage gradLoss, Storage gradA, Storage gradB, int n) {
        if (gradA == null && gradB == null) return;
        FloatBuffer A = f(a), B = f(b), GA = f(gradA), GB = f(gradB);
        float g = f(gradLoss).get(0) / n;
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                // sign(0) = 0, as torch: no gradient where the inputs are equal
                float d = g * Math.signum(A.get(i) - B.get(i));
                if (GA != null) GA.put(i, GA.get(i) + d);
                if (GB != null) GB.put(i, GB.get(i) - d);
            }
        });
    }
}
