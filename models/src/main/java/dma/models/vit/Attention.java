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
        int b = x.dim(0), t = x.dim(1), d = x.dim(2), hd = d / heads;
        Tensor flat = qkv.forward(x);
        Tensor split = flat.reshape(b, t, 3, heads, hd);
        Tensor qkvT = split.permute(2, 0, 3, 1, 4); // [3, B, H, T, hd]: q, k and v one after another
        // no backward reads the projection: free it now (its gradient still flows)
        flat.dropData();
        split.dropData();
        Tensor o = AttentionOps.attentionPacked(qkvT, (float) (1.0 / Math.sqrt(hd))); // q, k, v read in place
        Tensor merged = o.permute(0, 2, 1, 3);
        o.dropData();
        return proj.forward(merged.reshape(b, t, d));
    }
}
