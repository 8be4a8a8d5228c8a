package dma.engine.cpu;

import dma.engine.Storage;

/** Placeholder: kernels not written yet. */
final class CpuNormalization implements dma.engine.kernels.Normalization {
    @Override public void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, int rows, int cols, float eps) { throw new UnsupportedOperationException("cpu layerNorm"); }
    @Override public void layerNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd, Storage gradIn, Storage gradWeight, Storage gradBias, int rows, int cols) { throw new UnsupportedOperationException("cpu layerNormBackward"); }
    @Override public void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum) { throw new UnsupportedOperationException("cpu batchNormTrain"); }
    @Override public void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar, Storage out, int n, int c, int hw, float eps) { throw new UnsupportedOperationException("cpu batchNormEval"); }
    @Override public void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd, Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training) { throw new UnsupportedOperationException("cpu batchNormBackward"); }
}
