package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;

/** Scaled dot-product attention: softmax(q·kᵀ·scale)·v over the last two axes [t, d]. */
public final class AttentionOp {
    private AttentionOp() {}

    /**
     * The fused kernel. q, k and v share one shape [..., t, d] (typically [batch, heads, t, d]); the leading
     * axes are flattened into independent entries. Saves the [entries, t, t] attention weights for backward.
     * Float32 also under {@link dma.engine.Autocast#bf16()}: the kernel family has no bf16 form.
     */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, float scale) {
        Shapes.requireSameBackend("attention", q, k, v);
        Shapes.requireRankAtLeast("attention", q, 2);
        Shapes.requireSameShape("attention", q, k);
        Shapes.requireSameShape("attention", q, v);
        int t = q.dim(-2), d = q.dim(-1);
        int bh = Shapes.product(q.shape(), 0, q.rank() - 2);
        Backend be = q.backend();
        Tensor out = Tensor.empty(be, q.shape());
        Tensor probs = Tensor.empty(be, bh, t, t);
        be.attention().attention(q.storage(), k.storage(), v.storage(), out.storage(), probs.storage(), bh, t, d, scale);
        long product = 2L * bh * t * t * d; // one of q·kᵀ, p·v and the four products of backward
        Flops.add(Flops.Kind.FORWARD, 2 * product);
        Autograd.record("attention", out, new Tensor[]{q, k, v}, g -> {
            Flops.add(Flops.Kind.INPUT_GRAD, 4 * product);
            be.attention().attentionBackward(q.storage(), k.storage(), v.storage(), probs.storage(), g.storage(),
                    Autograd.gradStorage(q), Autograd.gradStorage(k), Autograd.gradStorage(v), bh, t, d, scale);
        });
        if (!out.requiresGrad()) probs.close(); // inference: nothing will read the weights again
        return out;
    }

    /** The same computation from separate ops (batched matmul, scale, row softmax, matmul): the reference for the fused kernel. */
    public static Tensor attentionComposed(Tensor q, Tensor k, Tensor v, float scale) {
        Tensor weights = Reduce.softmax(Linalg.matmul(q, k, false, true).scale(scale));
        return Linalg.matmul(weights, v);
    }
}
