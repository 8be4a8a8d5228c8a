package dma.models.vit;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.AttentionOps;
import dma.models.nn.Linear;
import dma.models.nn.Module;

/** Multi-head self-attention as timm: one qkv projection, heads split as (3, heads, head_dim), scale head_dim^−½, output projection. */
public final class Attention extends Module {
    final Linear qkv, proj;
    private final int heads;

    public Attention(Backend be, long seed, int dim, int heads) {
        this.heads = heads;
        qkv = child("qkv", new Linear(be, seed, dim, 3 * dim, true));
        proj = child("proj", new Linear(be, seed + 1, dim, dim, true));
    }

    /** x [B, T, D] → [B, T, D]. */
    public Tensor forward(Tensor x) {
        int hd = x.dim(2) / heads;
        // q, k and v read in place from the projection's [B, T, 3·D], the heads' outputs written as [B, T, D]: no permutes
        return proj.forward(AttentionOps.multiHead(qkv.forward(x), heads, (float) (1.0 / Math.sqrt(hd))));
    }
}
