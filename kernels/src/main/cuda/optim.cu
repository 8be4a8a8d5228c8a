// Fused optimizer steps: one pass over parameter, gradient and state. The per-element arithmetic is in
// double, rounded once on store, as the CPU reference (dma.engine.cpu.CpuOptim) does.
#include "common.cuh"

// torch.optim.AdamW: p = p·decay − stepSize·m / (√v / bc2Sqrt + eps), decay = 1 − lr·wd,
// stepSize = lr / (1 − β1^t), bc2Sqrt = √(1 − β2^t).
DMA_KERNEL void adamw(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v, int n,
                      double beta1, double beta2, double eps, double decay, double stepSize, double bc2Sqrt) {
    GRID_STRIDE(i, n) {
        double gi = g[i];
        double mi = beta1 * m[i] + (1.0 - beta1) * gi;
        double vi = beta2 * v[i] + (1.0 - beta2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(p[i] * decay - stepSize * mi / (sqrt(vi) / bc2Sqrt + eps));
    }
}

// SGD with momentum, torch semantics (dampening 0); the first step sets the buffer to the gradient.
DMA_KERNEL void sgd(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf, int n,
                    float lr, float momentum, float weightDecay, int nesterov, int firstStep) {
    GRID_STRIDE(i, n) {
        double pi = p[i];
        double d = g[i] + (double)weightDecay * pi;
        if (momentum != 0.f) {
            double b = firstStep ? d : momentum * (double)buf[i] + d;
            buf[i] = (float)b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] = (float)(pi - lr * d);
    }
}
