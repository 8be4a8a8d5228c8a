package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Losses;

/** Placeholder until the losses kernels land. */
final class CudaLosses implements Losses {
    private final CudaBackend backend;

    CudaLosses(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void crossEntropy(Storage logits, Storage targets, float smoothing, Storage loss, Storage probs, int rows, int classes) {
        throw new UnsupportedOperationException("cuda: losses.crossEntropy is not implemented yet");
    }

    @Override
    public void crossEntropyBackward(Storage probs, Storage targets, float smoothing, Storage gradLoss, float scale, Storage gradLogits, int rows, int classes) {
        throw new UnsupportedOperationException("cuda: losses.crossEntropyBackward is not implemented yet");
    }

    @Override
    public void l1(Storage a, Storage b, Storage loss, int n) {
        throw new UnsupportedOperationException("cuda: losses.l1 is not implemented yet");
    }

    @Override
    public void l1Backward(Storage a, Storage b, Storage gradLoss, Storage gradA, Storage gradB, int n) {
        throw new UnsupportedOperationException("cuda: losses.l1Backward is not implemented yet");
    }

}
