package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Normalization;

/** Placeholder until the normalization kernels land. */
final class CudaNormalization implements Normalization {
    private final CudaBackend backend;

    CudaNormalization(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, int rows, int cols, float eps) {
        throw new UnsupportedOperationException("cuda: normalization.layerNorm is not implemented yet");
    }

    @Override
    public void layerNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd, Storage gradIn, Storage gradWeight, Storage gradBias, int rows, int cols) {
        throw new UnsupportedOperationException("cuda: normalization.layerNormBackward is not implemented yet");
    }

    @Override
    public void layerNormChannels(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, int n, int c, int hw, float eps) {
        throw new UnsupportedOperationException("cuda: normalization.layerNormChannels is not implemented yet");
    }

    @Override
    public void layerNormChannelsBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd, Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw) {
        throw new UnsupportedOperationException("cuda: normalization.layerNormChannelsBackward is not implemented yet");
    }

    @Override
    public void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum) {
        throw new UnsupportedOperationException("cuda: normalization.batchNormTrain is not implemented yet");
    }

    @Override
    public void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar, Storage out, int n, int c, int hw, float eps) {
        throw new UnsupportedOperationException("cuda: normalization.batchNormEval is not implemented yet");
    }

    @Override
    public void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd, Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training) {
        throw new UnsupportedOperationException("cuda: normalization.batchNormBackward is not implemented yet");
    }

}
