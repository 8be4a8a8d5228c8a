package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.NormalizationOps;

/** LayerNorm over the last axis (eps 1e-6 in ViTs, as timm). */
public final class LayerNorm extends Module {
    public final Tensor weight, bias;
    private final float eps;

    public LayerNorm(Backend be, int dim, float eps) {
        this.eps = eps;
        weight = parameter("weight", () -> Tensor.full(be, 1f, dim));
        bias = parameter("bias", () -> Tensor.zeros(be, dim));
    }

    public Tensor forward(Tensor x) {
        return NormalizationOps.layerNorm(x, weight, bias, eps);
    }
}
