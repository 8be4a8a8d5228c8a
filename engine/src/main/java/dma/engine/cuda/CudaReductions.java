package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Reductions;

/** Placeholder until the reductions kernels land. */
final class CudaReductions implements Reductions {
    private final CudaBackend backend;

    CudaReductions(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void sum(Storage in, Storage out, int outer, int reduced, int inner, float alpha, boolean accumulate) {
        throw new UnsupportedOperationException("cuda: reductions.sum is not implemented yet");
    }

    @Override
    public void expand(Storage gradOut, Storage gradIn, int outer, int reduced, int inner, float alpha) {
        throw new UnsupportedOperationException("cuda: reductions.expand is not implemented yet");
    }

    @Override
    public void softmax(Storage in, Storage out, int rows, int cols) {
        throw new UnsupportedOperationException("cuda: reductions.softmax is not implemented yet");
    }

    @Override
    public void softmaxBackward(Storage out, Storage gradOut, Storage gradIn, int rows, int cols) {
        throw new UnsupportedOperationException("cuda: reductions.softmaxBackward is not implemented yet");
    }

    @Override
    public double sumOfSquares(Storage in, int n) {
        throw new UnsupportedOperationException("cuda: reductions.sumOfSquares is not implemented yet");
    }

}
