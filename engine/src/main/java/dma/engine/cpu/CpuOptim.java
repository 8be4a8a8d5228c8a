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

    @Override
    public void adamw(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step) {
        FloatBuffer P = f(param), G = f(grad), M = f(m), V = f(v);
        double b1 = beta1, b2 = beta2;
        double decay = 1.0 - (double) lr * weightDecay;
        // torch's arrangement: p −= (lr / bc1)·m / (√v / √bc2 + eps)
        double stepSize = lr / (1.0 - Math.pow(b1, step));
        double bc2Sqrt = Math.sqrt(1.0 - Math.pow(b2, step));
        Parallel.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                double g = G.get(i);
                double mi = b1 * M.get(i) + (1.0 - b1) * g;
                double vi = b2 * V.get(i) + (1.0 - b2) * g * g;
                M.put(i, (float) mi);
                V.put(i, (float) vi);
                double p = P.get(i) * decay;
                P.put(i, (float) (p - stepSize * mi / (Math.sqrt(vi) / bc2Sqrt + eps)));
            }
        });
    }

    @Override
    public void sgd(Storage param, Storage grad, Storage momentumBuf, int n, float lr, float momentum, float weightDecay,
                    boolean nesterov, boolean firstStep) {
        FloatBuffer P = f(param), G = f(grad), B = f(momentumBuf);
        boolean useMomentum = momentum != 0f;
        if (useMomentum && B == null) throw new IllegalArgumentException("sgd: momentum " + momentum + " needs a momentum buffer");
        Parallel.forRange(n, GRAIN, (s, e) -> {
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
