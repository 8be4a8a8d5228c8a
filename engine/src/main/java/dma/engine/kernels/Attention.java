package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Scaled dot-product attention over [bh, t, d] (batch × heads flattened). q, k and v each start at an element offset
 * of their storage, so that they may be three parts of one tensor (the qkv projection's [3, bh, t, d]) without
 * copies; their gradients start at the same offsets of theirs. {@link #multiHead} is the same attention on the
 * token-major layouts the linears around it read and write, [b, t, 3, heads, d] in and [b, t, heads, d] out.
 */
public interface Attention {
    /** out = softmax(q·kᵀ·scale)·v; probs[bh, t, t] is saved for backward. */
    void attention(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage out, Storage probs,
                   int bh, int t, int d, float scale);

    /** gradQ, gradK, gradV += the gradients of {@link #attention} (each may be null: skipped), at q's, k's and v's offsets. */
    void attentionBackward(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage probs, Storage gradOut,
                           Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale);

    /**
     * Multi-head attention in the linears' layouts: q, k and v of image i, token r and head h at
     * qkv[i, r, 0|1|2, h, :] (the qkv projection's output [b, t, 3·heads·d] as timm splits it), out[i, r, h, :] = the
     * attention of entry (i, h) at token r ([b, t, heads·d], the output projection's input); probs [b·heads, t, t]
     * (entry i·heads + h) saved for backward. The same values as {@link #attention} on the permuted parts.
     */
    void multiHead(Storage qkv, Storage out, Storage probs, int b, int t, int heads, int d, float scale);

    /**
     * The gradient of {@link #multiHead} with respect to qkv, in qkv's layout: added to gradQkv when
     * {@code accumulate}, else written to every element of it (its old contents are not read).
     */
    void multiHeadBackward(Storage qkv, Storage probs, Storage gradOut, Storage gradQkv, boolean accumulate,
                           int b, int t, int heads, int d, float scale);
}
