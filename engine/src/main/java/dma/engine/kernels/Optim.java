package dma.engine.kernels;

import dma.engine.Storage;

/** Fused optimizer updates. The policy (which tensors decay, schedules) lives in the trainer. */
public interface Optim {
    /**
     * One AdamW step (decoupled weight decay, bias correction, as torch.optim.AdamW):
     * p −= lr·wd·p; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + eps).
     */
    void adamw(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step);

    /** SGD with momentum (torch semantics, dampening 0): g' = g + wd·p; buf = μ·buf + g'; p −= lr·buf (nesterov: g' + μ·buf). */
    void sgd(Storage param, Storage grad, Storage momentumBuf, int n, float lr, float momentum, float weightDecay,
             boolean nesterov, boolean firstStep);
}
