package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Convolution;

/** Placeholder until the convolution kernels land. */
final class CudaConvolution implements Convolution {
    private final CudaBackend backend;

    CudaConvolution(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void depthwiseConv2d(Storage in, Storage weight, Storage bias, Storage out, int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow) {
        throw new UnsupportedOperationException("cuda: convolution.depthwiseConv2d is not implemented yet");
    }

    @Override
    public void depthwiseConv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow) {
        throw new UnsupportedOperationException("cuda: convolution.depthwiseConv2dBackward is not implemented yet");
    }

}
