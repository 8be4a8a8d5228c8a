package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Losses;

import static dma.engine.cuda.CudaBackend.ptr;
import static dma.engine.cuda.CudaElementwise.ceilDiv;

/**
 * Cross-entropy fused with log-softmax and the L1 loss (kernels/src/main/cuda/losses.cu). The upstream gradient
 * gradLoss[0] is read by the kernels on the device: backward never waits for a download.
 */
final class CudaLosses implements Losses {
    private static final String MODULE = "losses";
    private static final int BLOCK = 256;
    /** Elements per block in the first pass of the L1 sum, and the most blocks it uses (fixed: the sum's order depends on n alone). */
    private static final int L1_SLICE = 8192, L1_MAX_SLICES = 1024;

    private final CudaBackend backend;

    CudaLosses(CudaBackend backend) {
        this.backend = backend;
    }

    /** A warp per row; the smoothing constants in double, computed as on the CPU. */
    @Override
    public void crossEntropy(Storage logits, Storage targets, float smoothing, Storage loss, Storage probs, int rows, int classes) {
        double uniform = (double) smoothing / classes, keep = 1.0 - smoothing;
        backend.launch1d(MODULE, "cross_entropy", 32L * rows, BLOCK, ptr(logits), ptr(targets), ptr(loss), ptr(probs),
                rows, classes, keep, uniform);
    }

    @Override
    public void crossEntropyBackward(Storage probs, Storage targets, float smoothing, Storage gradLoss, float scale,
                                     Storage gradLogits, int rows, int classes) {
        if (gradLogits == null) return;
        long n = (long) rows * classes;
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cuda losses.crossEntropyBackward: " + n + " elements, over the 2^31 − 1 the kernels index");
        float uniform = smoothing / classes, keep = 1f - smoothing;
        backend.launch1d(MODULE, "cross_entropy_backward", n, BLOCK, ptr(probs), ptr(targets), ptr(gradLoss), ptr(gradLogits),
                (int) n, scale, keep, uniform);
    }

    /** Two passes: double partials per slice into a small device buffer, then one block adds them and writes loss[0]. */
    @Override
    public void l1(Storage a, Storage b, Storage loss, int n) {
        int slices = Math.max(1, Math.min(ceilDiv(n, L1_SLICE), L1_MAX_SLICES));
        int slice = ceilDiv(n, slices);
        Storage partials = backend.allocate(8L * slices);
        try {
            backend.launch(MODULE, "l1_partial", slices, 1, BLOCK, 0, ptr(a), ptr(b), n, slice, ptr(partials));
            backend.launch(MODULE, "l1_finish", 1, 1, BLOCK, 0, ptr(partials), slices, ptr(loss), n);
        } finally {
            // the stream orders both kernels before any later use of the block
            backend.free(partials);
        }
    }

    @Override
    public void l1Backward(Storage a, Storage b, Storage gradLoss, Storage gradA, Storage gradB, int n) {
        if (gradA == null && gradB == null) return;
        backend.launch1d(MODULE, "l1_backward", n, BLOCK, ptr(a), ptr(b), ptr(gradLoss), ptr(gradA), ptr(gradB), n);
    }
}
