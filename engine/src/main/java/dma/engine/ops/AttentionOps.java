package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;

import java.util.Arrays;
import java.util.function.Supplier;

/** Scaled dot-product attention: softmax(q·kᵀ·scale)·v over the last two axes [t, d]. */
public final class AttentionOps {
    private AttentionOps() {}

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
        return run(q.storage(), 0, k.storage(), 0, v.storage(), 0, q.shape(), new Tensor[]{q, k, v}, scale, () -> new Storage[]{
                Autograd.gradStorage(q), Autograd.gradStorage(k), Autograd.gradStorage(v)});
    }

    /**
     * {@link #attention} of the three parts of qkv [3, ..., t, d] (the qkv projection split into heads by one
     * permute): q = qkv[0], k = qkv[1], v = qkv[2], read and their gradients written in place, without copying the
     * parts out (forward) or back (backward).
     */
    public static Tensor attentionPacked(Tensor qkv, float scale) {
        Shapes.requireRankAtLeast("attentionPacked", qkv, 3);
        if (qkv.dim(0) != 3)
            throw new IllegalArgumentException("attentionPacked: qkv must be [3, ..., t, d] (q, k, v), got " + qkv.shapeString());
        int[] shape = Arrays.copyOfRange(qkv.shape(), 1, qkv.rank());
        int part = Shapes.product(shape, 0, shape.length);
        return run(qkv.storage(), 0, qkv.storage(), part, qkv.storage(), 2 * part, shape, new Tensor[]{qkv}, scale, () -> {
            Storage all = Autograd.gradStorage(qkv); // zeroed when new: the kernels add into it
            return new Storage[]{all, all, all};
        });
    }

    /**
     * Multi-head self-attention straight from the qkv projection: qkv [..., t, 3·heads·d], split per token as timm
     * does ((3, heads, d): q, k, v, each head's d values side by side), gives [..., t, heads·d], each token's heads side
     * by side: what the output projection reads. The same values as permuting qkv into [3, ..., heads, t, d],
     * {@link #attentionPacked} and permuting back, without the three copies (and their backward); the kernel reads
     * q, k and v in place and writes qkv's gradient in place. Saves the [entries, t, t] weights for backward.
     */
    public static Tensor multiHead(Tensor qkv, int heads, float scale) {
        Shapes.requireRankAtLeast("multiHead", qkv, 2);
        int[] shape = qkv.shape();
        int r = shape.length, t = shape[r - 2], width = shape[r - 1];
        if (heads < 1 || width % (3 * heads) != 0)
            throw new IllegalArgumentException("multiHead: the last axis of qkv " + qkv.shapeString() + " must be 3·heads·head_dim with "
                    + heads + " heads");
        int d = width / (3 * heads), b = Shapes.product(shape, 0, r - 2);
        int[] outShape = shape.clone();
        outShape[r - 1] = heads * d;
        Backend be = qkv.backend();
        Tensor out = Tensor.empty(be, outShape);
        Tensor probs = Tensor.empty(be, b * heads, t, t);
        be.attention().multiHead(qkv.storage(), out.storage(), probs.storage(), b, t, heads, d, scale);
        long product = 2L * b * heads * t * t * d; // one of q·kᵀ, p·v and the four products of backward
        Flops.add(Flops.Kind.FORWARD, 2 * product);
        Autograd.record("attention", out, new Tensor[]{qkv}, g -> {
            Autograd.GradTarget to = Autograd.gradTarget(qkv);
            if (to == null) return;
            Flops.add(Flops.Kind.INPUT_GRAD, 4 * product);
            be.attention().multiHeadBackward(qkv.storage(), probs.storage(), g.storage(), to.storage(), !to.overwrite(),
                    b, t, heads, d, scale);
        });
        if (!out.requiresGrad()) probs.close(); // inference: nothing will read the weights again
        return out;
    }

    /**
     * Attention of q, k and v at their offsets, out of the given shape; the backward adds into the storages that
     * {@code grads} gives for q, k and v (at the same offsets; null: no gradient).
     */
    private static Tensor run(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, int[] shape,
                              Tensor[] inputs, float scale, Supplier<Storage[]> grads) {
        int t = shape[shape.length - 2], d = shape[shape.length - 1];
        int bh = Shapes.product(shape, 0, shape.length - 2);
        Backend be = inputs[0].backend();
        Tensor out = Tensor.empty(be, shape);
        Tensor probs = Tensor.empty(be, bh, t, t);
        be.attention().attention(q, qOff, k, kOff, v, vOff, out.storage(), probs.storage(), bh, t, d, scale);
        long product = 2L * bh * t * t * d; // one of q·kᵀ, p·v and the four products of backward
        Flops.add(Flops.Kind.FORWARD, 2 * product);
        Autograd.record("attention", out, inputs, g -> {
            Flops.add(Flops.Kind.INPUT_GRAD, 4 * product);
            Storage[] to = grads.get();
            be.attention().attentionBackward(q, qOff, k, kOff, v, vOff, probs.storage(), g.storage(), to[0], to[1], to[2],
                    bh, t, d, scale);
        });
        if (!out.requiresGrad()) probs.close(); // inference: nothing will read the weights again
        return out;
    }

    /** The same computation from separate ops (batched matmul, scale, row softmax, matmul): the reference for the fused kernel. */
    public static Tensor attentionComposed(Tensor q, Tensor k, Tensor v, float scale) {
        Tensor weights = ReductionsOps.softmax(BlasOps.matmul(q, k, false, true).scale(scale));
        return BlasOps.matmul(weights, v);
    }
}
