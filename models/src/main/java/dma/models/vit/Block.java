package dma.models.vit;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Tensor;
import dma.engine.ops.ElementwiseOps;
import dma.models.nn.LayerNorm;
import dma.models.nn.Module;

/** Pre-norm transformer block: x + dropPath(attn(norm1(x))), then x + dropPath(mlp(norm2(x))). */
public final class Block extends Module {
    final LayerNorm norm1, norm2;
    final Attention attn;
    final Mlp mlp;
    private final float dropPath;

    public Block(Backend be, long seed, int dim, int heads, int hidden, double dropPath) {
        this.dropPath = (float) dropPath;
        norm1 = child("norm1", new LayerNorm(be, dim, 1e-6f));
        attn = child("attn", new Attention(be, seed, dim, heads));
        norm2 = child("norm2", new LayerNorm(be, dim, 1e-6f));
        mlp = child("mlp", new Mlp(be, seed + 2, dim, hidden));
    }

    /** {@code rng} supplies drop-path masks in train mode; it may be null in eval mode or when the rate is 0. */
    public Tensor forward(Tensor x, Rng rng) {
        x = x.add(dropPath(attn.forward(norm1.forward(x)), rng));
        return x.add(dropPath(mlp.forward(norm2.forward(x)), rng));
    }

    private Tensor dropPath(Tensor x, Rng rng) {
        if (!isTraining() || dropPath == 0f) return x;
        if (rng == null) throw new IllegalStateException("drop path " + dropPath + " in train mode needs an Rng");
        return ElementwiseOps.dropPath(x, dropPath, rng.nextSeed());
    }
}
