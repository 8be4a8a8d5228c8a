package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Fused LayerNorm over the last axis, LayerNorm over the channel axis of [n, c, hw] (ConvNeXt's LayerNorm2d)
 * and BatchNorm2d over (N, H, W) per channel.
 */
public interface Normalization {
    /** out = (in − mean)·rstd·weight + bias per row of [rows, cols]; saves mean[rows] and rstd[rows]. */
    void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                   int rows, int cols, float eps);

    void layerNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                           Storage gradIn, Storage gradWeight, Storage gradBias, int rows, int cols);

    /**
     * LayerNorm over the channel axis of a channels-first [n, c, hw] tensor (timm's LayerNorm2d): for every image
     * and position p, out[·, ch, p] = (in[·, ch, p] − mean)·rstd·weight[ch] + bias[ch] with the statistics over the
     * c channels (biased variance). Saves mean[n·hw] and rstd[n·hw] (image-major).
     */
    void layerNormChannels(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                           int n, int c, int hw, float eps);

    /** Backward of {@link #layerNormChannels}: gradIn, gradWeight, gradBias accumulate (+=); each may be null. */
    void layerNormChannelsBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                   Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw);

    /**
     * Training-mode BatchNorm2d of [n, c, hw]: batch statistics (biased variance for normalizing), saved
     * mean[c], rstd[c]; running stats updated as r = (1−momentum)·r + momentum·stat with the unbiased variance.
     * With {@code residual} (else null) it is added to the normalized values, and with {@code relu} the sum goes
     * through max(·, 0): out = relu(bn(in) + residual), a ResNet block's tail in one pass.
     */
    void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                        Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum,
                        Storage residual, boolean relu);

    /** Eval-mode BatchNorm2d: normalizes with the running statistics; residual and relu as in {@link #batchNormTrain}. */
    void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar,
                       Storage out, int n, int c, int hw, float eps, Storage residual, boolean relu);

    /**
     * Backward of either mode given the mean/rstd used in forward. {@code training}: the statistics depend on
     * the input (batch stats); otherwise they are constants (running stats). When the forward applied ReLU,
     * {@code reluOut} is its output and gradOut counts only where reluOut &gt; 0 (else null); gradResidual (the
     * residual's gradient, or null) += that masked gradOut. gradIn and gradResidual are written, not added to, when
     * their overwrite flag is set (they hold no values yet).
     */
    void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                           Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training,
                           Storage reluOut, Storage gradResidual, boolean overwriteGradIn, boolean overwriteGradResidual);
}
