package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.NormalizationOps;

/** BatchNorm over (N, H, W) per channel: batch statistics in train mode, running ones in eval mode (momentum 0.1, eps 1e-5). */
public final class BatchNorm2d extends Module {
    public static final float MOMENTUM = 0.1f;
    public final Tensor weight, bias, runningMean, runningVar;
    private float momentum = MOMENTUM;

    public BatchNorm2d(Backend be, int channels) {
        weight = parameter("weight", () -> Tensor.full(be, 1f, channels));
        bias = parameter("bias", () -> Tensor.zeros(be, channels));
        runningMean = buffer("running_mean", () -> Tensor.zeros(be, channels));
        runningVar = buffer("running_var", () -> Tensor.full(be, 1f, channels));
    }

    /** The weight of each train-mode batch's statistics in the running ones (1/(b+1) for batch b averages batches evenly). */
    public void momentum(float momentum) {
        this.momentum = momentum;
    }

    public Tensor forward(Tensor x) {
        return forward(x, null, false);
    }

    /** relu(bn(x) + residual) in one fused pass: residual may be null, relu off (see {@link NormalizationOps#batchNorm2d}). */
    public Tensor forward(Tensor x, Tensor residual, boolean relu) {
        return NormalizationOps.batchNorm2d(x, weight, bias, runningMean, runningVar, isTraining(), momentum, 1e-5f, residual, relu);
    }
}
