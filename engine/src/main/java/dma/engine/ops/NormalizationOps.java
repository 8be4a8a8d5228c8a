package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.kernels.Normalization;

/**
 * LayerNorm over the last axis, LayerNorm over the channels of NCHW, and BatchNorm2d, on the backend's fused kernels.
 *
 * <p>The per-row (per-channel) mean and rstd that forward saves for backward are small temporaries: they are
 * closed right after forward when no gradient is needed, otherwise at the end of the backward that reads them
 * (the tape runs each node once), and in any case by the enclosing scope.
 */
public final class NormalizationOps {
    private NormalizationOps() {}

    /** (x − mean)/√(var + eps)·weight + bias over the last axis of x; weight and bias are [cols] (either may be frozen). */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        Shapes.requireSameBackend("layerNorm", x, weight, bias);
        Shapes.requireRankAtLeast("layerNorm", x, 1);
        requireNonNull("layerNorm", weight, "weight");
        requireNonNull("layerNorm", bias, "bias");
        int cols = x.dim(-1), rows = x.numel() / Math.max(cols, 1);
        Shapes.requireShape("layerNorm", "weight for input " + x.shapeString(), weight, cols);
        Shapes.requireShape("layerNorm", "bias for input " + x.shapeString(), bias, cols);
        Backend be = x.backend();
        Normalization k = be.normalization();
        Tensor out = Tensor.empty(be, x.shape());
        Tensor mean = Tensor.empty(be, rows), rstd = Tensor.empty(be, rows);
        k.layerNorm(x.storage(), weight.storage(), bias.storage(), out.storage(), mean.storage(), rstd.storage(), rows, cols, eps);
        Tensor[] inputs = {x, weight, bias};
        if (!Autograd.needsGrad(inputs)) {
            mean.close();
            rstd.close();
            return out;
        }
        return Autograd.record("layerNorm", out, inputs, g -> {
            k.layerNormBackward(g.storage(), x.storage(), weight.storage(), mean.storage(), rstd.storage(),
                    Autograd.gradStorage(x), Autograd.gradStorage(weight), Autograd.gradStorage(bias), rows, cols);
            mean.close();
            rstd.close();
        });
    }

    /**
     * LayerNorm over the channel axis of x [N, C, H, W] (timm's LayerNorm2d, ConvNeXt's stem and downsampling norm):
     * every pixel's C values are normalized with their own mean and biased variance, then scaled by weight[C] and
     * shifted by bias[C]. Equal to permuting to [N, H, W, C], {@link #layerNorm} and permuting back, without the copies.
     */
    public static Tensor layerNorm2d(Tensor x, Tensor weight, Tensor bias, float eps) {
        String op = "layerNorm2d";
        Shapes.requireSameBackend(op, x, weight, bias);
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], got " + x.shapeString());
        requireNonNull(op, weight, "weight");
        requireNonNull(op, bias, "bias");
        int n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        Shapes.requireShape(op, "weight for input " + x.shapeString(), weight, c);
        Shapes.requireShape(op, "bias for input " + x.shapeString(), bias, c);
        Backend be = x.backend();
        Normalization k = be.normalization();
        Tensor out = Tensor.empty(be, x.shape());
        Tensor mean = Tensor.empty(be, n * hw), rstd = Tensor.empty(be, n * hw);
        k.layerNormChannels(x.storage(), weight.storage(), bias.storage(), out.storage(), mean.storage(), rstd.storage(), n, c, hw, eps);
        Tensor[] inputs = {x, weight, bias};
        if (!Autograd.needsGrad(inputs)) {
            mean.close();
            rstd.close();
            return out;
        }
        return Autograd.record(op, out, inputs, g -> {
            k.layerNormChannelsBackward(g.storage(), x.storage(), weight.storage(), mean.storage(), rstd.storage(),
                    Autograd.gradStorage(x), Autograd.gradStorage(weight), Autograd.gradStorage(bias), n, c, hw);
            mean.close();
            rstd.close();
        });
    }

    /**
     * BatchNorm2d of x [N, C, H, W] with weight, bias [C]. Training: normalizes with the batch statistics and
     * updates the running ones in place as r = (1 − momentum)·r + momentum·stat (unbiased variance, as PyTorch);
     * running statistics may then be null (not tracked). Eval: normalizes with the running statistics, which are
     * required. Running statistics never take part in autograd.
     */
    public static Tensor batchNorm2d(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
                                     boolean training, float momentum, float eps) {
        return batchNorm2d(x, weight, bias, runningMean, runningVar, training, momentum, eps, null, false);
    }

    /**
     * {@link #batchNorm2d(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, float, float)} with a fused epilogue:
     * relu(bn(x) + residual) (residual [N, C, H, W] or null; relu or not) in the same pass over the data, and in
     * backward the ReLU's mask and the residual's gradient ride along with BatchNorm's. A ResNet block is
     * conv → bn+relu → conv → bn+residual+relu: no separate ReLU or add passes, forward or backward.
     */
    public static Tensor batchNorm2d(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
                                     boolean training, float momentum, float eps, Tensor residual, boolean relu) {
        String op = "batchNorm2d";
        Shapes.requireSameBackend(op, x, weight, bias, runningMean, runningVar, residual);
        if (residual != null && !java.util.Arrays.equals(residual.shape(), x.shape()))
            throw new IllegalArgumentException(op + ": residual " + residual.shapeString() + " must have the input's shape " + x.shapeString());
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], got " + x.shapeString());
        requireNonNull(op, weight, "weight");
        requireNonNull(op, bias, "bias");
        int n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        String forInput = " for input " + x.shapeString();
        Shapes.requireShape(op, "weight" + forInput, weight, c);
        Shapes.requireShape(op, "bias" + forInput, bias, c);
        if (runningMean != null) Shapes.requireShape(op, "runningMean" + forInput, runningMean, c);
        if (runningVar != null) Shapes.requireShape(op, "runningVar" + forInput, runningVar, c);
        if (!training && (runningMean == null || runningVar == null))
            throw new IllegalArgumentException(op + ": eval mode needs the running mean and variance");
        if (training && (long) n * hw < 2)
            throw new IllegalArgumentException(op + ": training needs more than one value per channel, input is " + x.shapeString());
        if (!(momentum >= 0f && momentum <= 1f))
            throw new IllegalArgumentException(op + ": momentum must be in [0, 1], got " + momentum);

        Backend be = x.backend();
        Normalization k = be.normalization();
        Tensor out = Tensor.empty(be, x.shape());
        Tensor[] inputs = {x, weight, bias, residual};
        Storage res = storageOrNull(residual);
        boolean needsGrad = Autograd.needsGrad(inputs);
        Tensor mean, rstd;
        if (training) {
            mean = Tensor.empty(be, c);
            rstd = Tensor.empty(be, c);
            k.batchNormTrain(x.storage(), weight.storage(), bias.storage(), out.storage(), mean.storage(), rstd.storage(),
                    storageOrNull(runningMean), storageOrNull(runningVar), n, c, hw, eps, momentum, res, relu);
            if (!needsGrad) {
                mean.close();
                rstd.close();
                return out;
            }
        } else {
            k.batchNormEval(x.storage(), weight.storage(), bias.storage(), runningMean.storage(), runningVar.storage(),
                    out.storage(), n, c, hw, eps, res, relu);
            if (!needsGrad) return out;
            // backward treats the statistics as constants: snapshot them, so a later update of the running stats
            // (a training step before this backward) cannot change the gradient of this forward
            mean = Tensor.empty(be, c);
            mean.copyFrom(runningMean);
            float[] var = runningVar.toFloats(), r = new float[c];
            for (int i = 0; i < c; i++) r[i] = (float) (1.0 / Math.sqrt((double) var[i] + eps));
            rstd = Tensor.of(be, r, c);
        }
        Tensor savedMean = mean, savedRstd = rstd;
        return Autograd.record(op, out, inputs, g -> {
            // the ReLU's mask is read from this op's own output (alive while its gradient is applied); new gradients of x
            // and the residual are written, not added to (unless they are one tensor: then both add into zeros)
            Autograd.GradTarget gx = Autograd.gradTarget(x), gr = residual == x ? gx : Autograd.gradTarget(residual);
            boolean shared = residual == x && gx != null;
            if (shared && gx.overwrite()) be.zero(gx.storage());
            k.batchNormBackward(g.storage(), x.storage(), weight.storage(), savedMean.storage(), savedRstd.storage(),
                    gx == null ? null : gx.storage(), Autograd.gradStorage(weight), Autograd.gradStorage(bias), n, c, hw, training,
                    relu ? out.storage() : null, gr == null ? null : gr.storage(),
                    gx != null && gx.overwrite() && !shared, gr != null && gr.overwrite() && !shared);
            savedMean.close();
            savedRstd.close();
        });
    }

    private static Storage storageOrNull(Tensor t) {
        return t == null ? null : t.storage();
    }

    private static void requireNonNull(String op, Tensor t, String what) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is required (null given)");
    }
}
