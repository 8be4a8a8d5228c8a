package dma.engine.kernels;

import dma.engine.Storage;

/** Reductions over one axis, viewed as [outer, reduced, inner], and row softmax. */
public interface Reductions {
    /** out[o, i] = alpha · Σ_r in[o, r, i] (accumulate: +=). */
    void sum(Storage in, Storage out, int outer, int reduced, int inner, float alpha, boolean accumulate);

    /** gradIn[o, r, i] += alpha · gradOut[o, i]: the backward of {@link #sum}. */
    void expand(Storage gradOut, Storage gradIn, int outer, int reduced, int inner, float alpha);

    /** Row softmax of a [rows, cols] matrix (max-subtracted). */
    void softmax(Storage in, Storage out, int rows, int cols);

    /** gradIn += out ⊙ (gradOut − Σ_j gradOut·out) per row. */
    void softmaxBackward(Storage out, Storage gradOut, Storage gradIn, int rows, int cols);

    /** Σ x², accumulated in double. */
    double sumOfSquares(Storage in, int n);
}
