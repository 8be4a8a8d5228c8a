package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.ConvolutionOps;

/**
 * Depthwise 2-D convolution (PyTorch's Conv2d with groups = in = out channels), weight [C, 1, k, k], bias [C],
 * timm's init for ConvNeXt: trunc_normal(.02) weight, zero bias.
 */
public final class DepthwiseConv2d extends Module {
    public final Tensor weight, bias;
    public final int stride, padding;

    public DepthwiseConv2d(Backend be, long seed, int channels, int kernel, int stride, int padding) {
        this.stride = stride;
        this.padding = padding;
        weight = parameter("weight", () -> Init.truncNormal(be, seed, 0.02f, channels, 1, kernel, kernel));
        bias = parameter("bias", () -> Tensor.zeros(be, channels));
    }

    public Tensor forward(Tensor x) {
        return ConvolutionOps.depthwiseConv2d(x, weight, bias, stride, padding);
    }
}
