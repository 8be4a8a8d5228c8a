package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.BlasOps;

/** y = x·Wᵀ + b with W [out, in] (PyTorch's layout); timm init: trunc_normal(.02) weight, zero bias. */
public final class Linear extends Module {
    public final Tensor weight, bias;

    public Linear(Backend be, long seed, int in, int out, boolean withBias) {
        weight = parameter("weight", () -> Init.truncNormal(be, seed, 0.02f, out, in));
        bias = withBias ? parameter("bias", () -> Tensor.zeros(be, out)) : null;
    }

    public Tensor forward(Tensor x) {
        return BlasOps.linear(x, weight, bias);
    }
}
