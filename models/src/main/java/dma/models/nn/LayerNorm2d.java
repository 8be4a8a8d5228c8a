package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.NormalizationOps;

/** LayerNorm over the channel axis of [N, C, H, W] (timm's LayerNorm2d; eps 1e-6 in ConvNeXt). */
public final class LayerNorm2d extends Module {
    public final Tensor weight, bias;
    private final float eps;

    public LayerNorm2d(Backend be, int channels, float eps) {
        this.eps = eps;
        weight = parameter("weight", () -> Tensor.full(be, 1f, channels));
        bias = parameter("bias", () -> Tensor.zeros(be, channels));
    }

    public Tensor forward(Tensor x) {
        return NormalizationOps.layerNorm2d(x, weight, bias, eps);
    }
}
