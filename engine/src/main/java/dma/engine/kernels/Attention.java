package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Scaled dot-product attention over [bh, t, d] (batch × heads flattened). q, k and v each start at an element offset
 * of their storage, so that they may be three parts of one tensor (the qkv projection's [3, bh, t, d]) without
 * copies; their gradients start at the same offsets of theirs.
 */
public interface Attention {
    /** out = softmax(q·kᵀ·scale)·v; probs[bh, t, t] is saved for backward. */
    void attention(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage out, Storage probs,
                   int bh, int t, int d, float scale);

    /** gradQ, gradK, gradV += the gradients of {@link #attention} (each may be null: skipped), at q's, k's and v's offsets. */
    void attentionBackward(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage probs, Storage gradOut,
                           Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale);
}
