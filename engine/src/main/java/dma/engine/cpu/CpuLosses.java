package dma.engine.cpu;

import dma.engine.Storage;

/** Placeholder: kernels not written yet. */
final class CpuLosses implements dma.engine.kernels.Losses {
    @Override public void crossEntropy(Storage logits, Storage targets, float smoothing, Storage loss, Storage probs, int rows, int classes) { throw new UnsupportedOperationException("cpu crossEntropy"); }
    @Override public void crossEntropyBackward(Storage probs, Storage targets, float smoothing, Storage gradLoss, float scale, Storage gradLogits, int rows, int classes) { throw new UnsupportedOperationException("cpu crossEntropyBackward"); }
    @Override public void l1(Storage a, Storage b, Storage loss, int n) { throw new UnsupportedOperationException("cpu l1"); }
    @Override public void l1Backward(Storage a, Storage b, Storage gradLoss, Storage gradA, Storage gradB, int n) { throw new UnsupportedOperationException("cpu l1Backward"); }
}
