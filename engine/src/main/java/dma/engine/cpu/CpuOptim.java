package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Optim;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;

/**
 * Fused optimizer steps: one pass over each parameter, its gradient and its state. The per-element
 * arithmetic runs in double and is rounded once when stored, so the float32 result is as close to
 * the exact update as the storage allows.
 */
final class CpuOptim implements Optim {
    private static final int GRAIN = 1 << 14;

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuOptim(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public void adamw(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step) {
        FloatBuffer P = f(param), G = f(grad), M = f(m), V = f(v);
        double b1 = beta1, b2 = beta2;
        double decay = 1.0 - (double) lr * weightDecay;
        // torch's arrangement: p −= (lr / bc1)·m / (√v / √bc2 + eps)
        double stepSize = lr / (1.0 - Math.pow(b1, step));
        double bc2Sqrt = Math.sqrt(1.0 - Math.pow(b2, step));
        int block = CpuElementwise.BLOCK;
        parallel.forRange(n, GRAIN, (s, e) -> {
            float[] pb = new float[block], gb = new float[block], mb = new float[block], vb = new float[block];
            for (int b = s; b < e; b += block) {
                int len = Math.min(block, e - b);
                P.get(b, pb, 0, len);
                G.get(b, gb, 0, len);
                M.get(b, mb, 0, len);
                V.get(b, vb, 0, len);
                for (int i = 0; i < len; i++) {
                    double g = gb[i];
                    double mi = b1 * mb[i] + (1.0 - b1) * g;
                    double vi = b2 * vb[i] + (1.0 - b2) * g * g;
                    mb[i] = (float) mi;
                    vb[i] = (float) vi;
                    pb[i] = (float) (pb[i] * decay - stepSize * mi / (Math.sqrt(vi) / bc2Sqrt + eps));
                }
                P.put(b, pb, 0, len);
                M.put(b, mb, 0, len);
                V.put(b, vb, 0, len);
            }
        });
    }

    @Override
    public void sgd(Storage param, Storage grad, Storage momentumBuf, int n, float lr, float momentum, float weightDecay,
                    boolean nesterov, boolean firstStep) {
        FloatBuffer P = f(param), G = f(grad), B = f(momentumBuf);
        boolean useMomentum = momentum != 0f;
        if (useMomentum && B == null) throw new IllegalArgumentException("sgd: momentum " + momentum + " needs a momentum buffer");
        parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                double p = P.get(i);
                double d = G.get(i) + (double) weightDecay * p;
                if (useMomentum) {
                    // as torch, the first step sets the buffer to the gradient: its old contents (maybe uninitialized) are never read
                    double buf = firstStep ? d : momentum * (double) B.get(i) + d;
                    B.put(i, (float) buf);
                    d = nesterov ? d + momentum * buf : buf;
                }
                P.put(i, (float) (p - lr * d));
            }
        });
    }
}
