package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Attention;
import dma.engine.kernels.Blas;

import static dma.engine.cuda.CudaBackend.ptr;

/**
 * Attention over [bh, t, d] (kernels/src/main/cuda/attention.cu) in the composed form: strided-batched cuBLAS GEMMs
 * (one batch entry per (batch, head)) around the row softmax kernel and its backward. A fused float32 forward (the
 * scores of a block of query rows kept in shared memory) was measured 2.7× slower than this on an H200 at DeiT-S's
 * shape (bh 768, t 197, d 64: 1.19 against 0.44 ms; bench/results/2026-11-27-gpu-h200.md) and was removed: a fused
 * kernel pays only on the tensor cores. The GEMMs go through {@link Blas}, the kernels through the backend's launcher.
 */
final class CudaAttention implements Attention {
    private static final String MODULE = "attention";
    /** Threads per block of the row kernels: one warp per row. */
    private static final int ROW_BLOCK = 128;

    private final CudaBackend backend;

    CudaAttention(CudaBackend backend) {
        this.backend = backend;
    }

    /** probs = scale·q·kᵀ, softmaxed in place, then out = probs·v. */
    @Override
    public void attention(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage out, Storage probs,
                          int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0) return;
        Blas blas = backend.blas();
        int td = t * d, tt = t * t;
        blas.gemmBatched(false, true, t, t, d, scale, q, qOff, d, td, k, kOff, d, td, 0f, probs, 0, t, tt, bh);
        softmaxRows(probs, bh * t, t);
        blas.gemmBatched(false, false, t, d, t, 1f, probs, 0, t, tt, v, vOff, d, td, 0f, out, 0, d, td, bh);
    }

    @Override
    public void attentionBackward(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage probs, Storage gradOut,
                                  Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0 || (gradQ == null && gradK == null && gradV == null)) return;
        Blas blas = backend.blas();
        int td = t * d, tt = t * t;
        // every gradient accumulates: beta = 1
        if (gradV != null) blas.gemmBatched(true, false, t, d, t, 1f, probs, 0, t, tt, gradOut, 0, d, td, 1f, gradV, vOff, d, td, bh);
        if (gradQ == null && gradK == null) return;
        // dP = gradOut·vᵀ, turned in place into the score gradient dS = P∘(dP − rowsum(dP∘P))
        Storage scores = backend.allocate(4L * bh * tt);
        blas.gemmBatched(false, true, t, t, d, 1f, gradOut, 0, d, td, v, vOff, d, td, 0f, scores, 0, t, tt, bh);
        softmaxBackwardRows(probs, scores, bh * t, t);
        // scores were scale·q·kᵀ: dq += scale·dS·k, dk += scale·dSᵀ·q
        if (gradQ != null) blas.gemmBatched(false, false, t, d, t, scale, scores, 0, t, tt, k, kOff, d, td, 1f, gradQ, qOff, d, td, bh);
        if (gradK != null) blas.gemmBatched(true, false, t, d, t, scale, scores, 0, t, tt, q, qOff, d, td, 1f, gradK, kOff, d, td, bh);
        backend.free(scores);
    }

    /**
     * Composed: qkv permuted into [3, b, heads, t, d] (a temporary), {@link #attention} on its three parts, the output
     * permuted into [b, t, heads, d]: the copies the model made before this entry point existed.
     */
    @Override
    public void multiHead(Storage qkv, Storage out, Storage probs, int b, int t, int heads, int d, float scale) {
        if (b == 0 || t == 0 || heads == 0) return;
        int part = b * heads * t * d;
        Storage split = backend.allocate(4L * 3 * part), o = backend.allocate(4L * part);
        try {
            backend.layout().permute(qkv, new int[]{b, t, 3, heads, d}, SPLIT, split, false);
            attention(split, 0, split, part, split, 2 * part, o, probs, b * heads, t, d, scale);
            backend.layout().permute(o, new int[]{b, heads, t, d}, MERGE, out, false);
        } finally {
            backend.free(o);
            backend.free(split);
        }
    }

    /** Composed as {@link #multiHead}: the gradient of the split parts, permuted back into qkv's layout. */
    @Override
    public void multiHeadBackward(Storage qkv, Storage probs, Storage gradOut, Storage gradQkv, boolean accumulate,
                                  int b, int t, int heads, int d, float scale) {
        if (b == 0 || t == 0 || heads == 0 || gradQkv == null) return;
        int part = b * heads * t * d;
        Storage split = backend.allocate(4L * 3 * part), g = backend.allocate(4L * part), gradSplit = backend.allocate(4L * 3 * part);
        try {
            backend.layout().permute(qkv, new int[]{b, t, 3, heads, d}, SPLIT, split, false);
            backend.layout().permute(gradOut, new int[]{b, t, heads, d}, MERGE, g, false); // [b, t, h, d] → [b, h, t, d]: the same swap
            backend.zero(gradSplit);
            attentionBackward(split, 0, split, part, split, 2 * part, probs, g, gradSplit, gradSplit, gradSplit, b * heads, t, d, scale);
            if (!accumulate) backend.zero(gradQkv);
            backend.layout().permute(gradSplit, new int[]{3, b, heads, t, d}, UNSPLIT, gradQkv, true);
        } finally {
            backend.free(gradSplit);
            backend.free(g);
            backend.free(split);
        }
    }

    /** [b, t, 3, h, d] → [3, b, h, t, d], its inverse, and [b, h, t, d] ↔ [b, t, h, d]. */
    private static final int[] SPLIT = {2, 0, 3, 1, 4}, UNSPLIT = {1, 3, 0, 2, 4}, MERGE = {0, 2, 1, 3};

    /** p = softmax(p) per row of [rows, cols], in place. */
    void softmaxRows(Storage p, int rows, int cols) {
        backend.launch(MODULE, "softmax_rows_in_place", rowGrid(rows), 1, ROW_BLOCK, 0, ptr(p), rows, cols);
    }

    /** grad = p∘(grad − rowsum(grad∘p)) per row, in place: the softmax backward given its output p. */
    void softmaxBackwardRows(Storage p, Storage grad, int rows, int cols) {
        backend.launch(MODULE, "softmax_backward_rows_in_place", rowGrid(rows), 1, ROW_BLOCK, 0, ptr(p), ptr(grad), rows, cols);
    }

    private int rowGrid(int rows) {
        return backend.blocksFor(32L * rows, ROW_BLOCK);
    }
}
