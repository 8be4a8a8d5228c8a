package dma.engine.kernels;

import dma.engine.Storage;

/** Fused scaled dot-product attention over [bh, t, d] (batch × heads flattened). */
public interface Attention {
    /** out = softmax(q·kᵀ·scale)·v; probs[bh, t, t] is saved for backward. */
    void attention(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale);

    void attentionBackward(Storage q, Storage k, Storage v, Storage probs, Storage gradOut,
                           Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale);
}
