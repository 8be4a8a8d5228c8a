package dma.engine.cpu;

import dma.engine.Storage;

/** Placeholder: kernels not written yet. */
final class CpuOptim implements dma.engine.kernels.Optim {
    @Override public void adamw(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2, float eps, float weightDecay, int step) { throw new UnsupportedOperationException("cpu adamw"); }
    @Override public void sgd(Storage param, Storage grad, Storage momentumBuf, int n, float lr, float momentum, float weightDecay, boolean nesterov, boolean firstStep) { throw new UnsupportedOperationException("cpu sgd"); }
}
