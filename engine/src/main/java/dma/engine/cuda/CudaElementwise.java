package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Elementwise;
import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;

/** Placeholder until the elementwise kernels land. */
final class CudaElementwise implements Elementwise {
    private final CudaBackend backend;

    CudaElementwise(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] shape) {
        throw new UnsupportedOperationException("cuda: elementwise.binary is not implemented yet");
    }

    @Override
    public void reduceBroadcast(Storage src, int[] shape, Storage dst, int[] dstStrides, float alpha) {
        throw new UnsupportedOperationException("cuda: elementwise.reduceBroadcast is not implemented yet");
    }

    @Override
    public void activation(Activation f, Storage in, Storage out, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.activation is not implemented yet");
    }

    @Override
    public void activationBackward(Activation f, Storage in, Storage gradOut, Storage gradIn, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.activationBackward is not implemented yet");
    }

    @Override
    public void scale(Storage in, Storage out, float alpha, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.scale is not implemented yet");
    }

    @Override
    public void scaleChannels(Storage in, Storage scale, Storage out, int outer, int channels, int inner) {
        throw new UnsupportedOperationException("cuda: elementwise.scaleChannels is not implemented yet");
    }

    @Override
    public void scaleChannelsBackward(Storage gradOut, Storage in, Storage scale, Storage gradIn, Storage gradScale, int outer, int channels, int inner) {
        throw new UnsupportedOperationException("cuda: elementwise.scaleChannelsBackward is not implemented yet");
    }

    @Override
    public void axpy(float alpha, Storage x, Storage y, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.axpy is not implemented yet");
    }

    @Override
    public void fill(Storage out, int offset, int n, float value) {
        throw new UnsupportedOperationException("cuda: elementwise.fill is not implemented yet");
    }

    @Override
    public void dropout(Storage in, Storage out, int n, float p, long seed) {
        throw new UnsupportedOperationException("cuda: elementwise.dropout is not implemented yet");
    }

    @Override
    public void dropoutBackward(Storage gradOut, Storage gradIn, int n, float p, long seed) {
        throw new UnsupportedOperationException("cuda: elementwise.dropoutBackward is not implemented yet");
    }

    @Override
    public void dropPath(Storage in, Storage out, int rows, int rowLen, float p, long seed) {
        throw new UnsupportedOperationException("cuda: elementwise.dropPath is not implemented yet");
    }

    @Override
    public void dropPathBackward(Storage gradOut, Storage gradIn, int rows, int rowLen, float p, long seed) {
        throw new UnsupportedOperationException("cuda: elementwise.dropPathBackward is not implemented yet");
    }

    @Override
    public void castToBf16(Storage in, Storage out, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.castToBf16 is not implemented yet");
    }

    @Override
    public void castToF32(Storage in, Storage out, int n) {
        throw new UnsupportedOperationException("cuda: elementwise.castToF32 is not implemented yet");
    }

    @Override
    public void randomUniform(Storage out, int n, long seed, float low, float high) {
        throw new UnsupportedOperationException("cuda: elementwise.randomUniform is not implemented yet");
    }

    @Override
    public void randomNormal(Storage out, int n, long seed, float mean, float std, float low, float high) {
        throw new UnsupportedOperationException("cuda: elementwise.randomNormal is not implemented yet");
    }

}
