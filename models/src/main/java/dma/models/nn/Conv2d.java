package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.ConvolutionOps;

/** 2-D convolution, weight [out, in, k, k]. */
public final class Conv2d extends Module {
    public final Tensor weight, bias;
    public final int stride, padding;

    /** {@code init}: the weight initializer's seed is {@code seed}; the bias (if any) uses PyTorch's default. */
    public Conv2d(Backend be, long seed, int in, int out, int kernel, int stride, int padding, boolean withBias, boolean kaiming) {
        this.stride = stride;
        this.padding = padding;
        int fanIn = in * kernel * kernel;
        weight = parameter("weight", () -> kaiming ? Init.kaimingNormal(be, seed, fanIn, out, in, kernel, kernel)
                : Init.torchDefault(be, seed, fanIn, out, in, kernel, kernel));
        bias = withBias ? parameter("bias", () -> Init.torchDefault(be, seed + 1, fanIn, out)) : null;
    }

    public Tensor forward(Tensor x) {
        return ConvolutionOps.conv2d(x, weight, bias, stride, padding);
    }
}
