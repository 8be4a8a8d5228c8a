package dma.engine.kernels;

import dma.engine.Storage;

/** Losses fused with what precedes them. */
public interface Losses {
    /**
     * Log-softmax + cross-entropy with soft targets [rows, classes] smoothed as t·(1−s) + s/classes.
     * Writes the per-row loss[rows] and the softmax probs[rows, classes] for backward.
     */
    void crossEntropy(Storage logits, Storage targets, float smoothing, Storage loss, Storage probs, int rows, int classes);

    /** gradLogits += gradLoss[0]·scale·(probs − smoothed targets). */
    void crossEntropyBackward(Storage probs, Storage targets, float smoothing, Storage gradLoss, float scale,
                              Storage gradLogits, int rows, int classes);

    /** loss[0] = Σ|a − b| / n. */
    void l1(Storage a, Storage b, Storage loss, int n);

    /** gradA += g·sign(a − b)/n, gradB −= the same (g = gradLoss[0]). */
    void l1Backward(Storage a, Storage b, Storage gradLoss, Storage gradA, Storage gradB, int n);
}
