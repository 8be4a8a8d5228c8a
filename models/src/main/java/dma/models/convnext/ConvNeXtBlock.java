package dma.models.convnext;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Tensor;
import dma.engine.ops.ElementwiseOps;
import dma.models.nn.DepthwiseConv2d;
import dma.models.nn.LayerNorm;
import dma.models.nn.Module;
import dma.models.vit.Mlp;

/**
 * timm's ConvNeXtBlock (conv_mlp = False): x + dropPath(gamma·fc2(gelu(fc1(norm(conv_dw(x)))))) with a 7×7
 * depthwise convolution (padding 3), LayerNorm over channels (eps 1e-6), an MLP of ratio 4 with exact GELU and a
 * per-channel layer scale {@code gamma} (init 1e-6).
 *
 * <p>Layout: the block reads and writes channels-first [N, C, H, W] (like timm). Between the depthwise convolution
 * and the residual add it works channels-last [N, H, W, C], as timm does: LayerNorm then runs over the contiguous
 * last axis and the two pointwise layers are each one GEMM over all N·H·W pixels (channels-first they would be one
 * small GEMM per image, down to a matrix-vector product per image in the last stage, where H·W is 1 at 28² input).
 * The two permutes copy C values per pixel, against 16·C² FLOPs per pixel in the MLP.
 */
public final class ConvNeXtBlock extends Module {
    public static final float LAYER_SCALE_INIT = 1e-6f;
    final DepthwiseConv2d convDw;
    final LayerNorm norm;
    final Mlp mlp;
    final Tensor gamma;
    private final float dropPath;

    public ConvNeXtBlock(Backend be, long seed, int dim, double dropPath) {
        this.dropPath = (float) dropPath;
        convDw = child("conv_dw", new DepthwiseConv2d(be, seed, dim, 7, 1, 3));
        norm = child("norm", new LayerNorm(be, dim, 1e-6f));
        mlp = child("mlp", new Mlp(be, seed + 1, dim, 4 * dim));
        gamma = parameter("gamma", () -> Tensor.full(be, LAYER_SCALE_INIT, dim));
    }

    /** x [N, C, H, W] → [N, C, H, W]; {@code rng} supplies drop-path masks in train mode (may be null otherwise). */
    public Tensor forward(Tensor x, Rng rng) {
        Tensor h = convDw.forward(x).permute(0, 2, 3, 1);           // [N, H, W, C]
        h = ElementwiseOps.layerScale(mlp.forward(norm.forward(h)), gamma, -1);
        h = h.permute(0, 3, 1, 2);                                  // [N, C, H, W]
        if (isTraining() && dropPath > 0f) {
            if (rng == null) throw new IllegalStateException("drop path " + dropPath + " in train mode needs an Rng");
            h = ElementwiseOps.dropPath(h, dropPath, rng.nextSeed());
        }
        return x.add(h);
    }
}
