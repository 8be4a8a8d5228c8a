package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Attention;
import dma.engine.kernels.Blas;

import static dma.engine.cuda.CudaBackend.ptr;

/**
 * Attention over [bh, t, d] (kernels/src/main/cuda/attention.cu). The forward runs as one fused kernel
 * (attentionForwardFused: q·kᵀ, softmax and ·v per block of query rows, the scores kept in shared memory) when t and d
 * are within its limits, and otherwise in the composed form: strided-batched cuBLAS GEMMs (one batch entry per
 * (batch, head)) around the row softmax kernel. The backward is always composed. The GEMMs go through {@link Blas},
 * the kernels through the backend's launcher, so a dry run can check the kernels alone.
 */
final class CudaAttention implements Attention {
    private static final String MODULE = "attention";
    /** Threads per block of the row kernels: one warp per row. */
    private static final int ROW_BLOCK = 128;
    /** The fused forward's limits and shape, as FUSED_* in attention.cu. */
    static final int FUSED_MAX_T = 256, FUSED_MAX_D = 128;
    private static final int FUSED_ROWS = 16, FUSED_KEYS = 32, FUSED_BLOCK = 128;

    private final CudaBackend backend;

    CudaAttention(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void attention(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0) return;
        // the fused kernel within its limits (t ≤ 256, d ≤ 128: every ViT here), the composed form past them
        if (fusedFits(t, d)) attentionFused(q, k, v, out, probs, bh, t, d, scale);
        else attentionComposed(q, k, v, out, probs, bh, t, d, scale);
    }

    /** Whether the fused forward takes attention of t tokens and head size d. */
    static boolean fusedFits(int t, int d) {
        return t <= FUSED_MAX_T && d <= FUSED_MAX_D;
    }

    /** The fused forward's dynamic shared memory: as the layout in attention.cu (key tile, query rows, score rows). */
    static int fusedSharedBytes(int t, int d) {
        int padded = (d + 3) & ~3, tileStride = (padded & 7) != 0 ? padded : padded + 4;
        return Float.BYTES * (FUSED_KEYS * tileStride + FUSED_ROWS * padded + FUSED_ROWS * t);
    }

    /** One launch: a block per FUSED_ROWS query rows of one (batch, head); the kernel loops when the grid is capped. */
    void attentionFused(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale) {
        if (!fusedFits(t, d)) throw new IllegalArgumentException("fused attention takes t ≤ " + FUSED_MAX_T + " and d ≤ "
                + FUSED_MAX_D + ", not t = " + t + ", d = " + d);
        long rowBlocks = (long) bh * ((t + FUSED_ROWS - 1) / FUSED_ROWS);
        backend.launch(MODULE, "attentionForwardFused", backend.blocksFor(rowBlocks * FUSED_BLOCK, FUSED_BLOCK), 1,
                FUSED_BLOCK, fusedSharedBytes(t, d), ptr(q), ptr(k), ptr(v), ptr(out), ptr(probs), bh, t, d, scale);
    }

    /** The composed forward: probs = scale·q·kᵀ, softmaxed in place, then out = probs·v. */
    void attentionComposed(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0) return;
        Blas blas = backend.blas();
        int td = t * d, tt = t * t;
        blas.gemmBatched(false, true, t, t, d, scale, q, 0, d, td, k, 0, d, td, 0f, probs, 0, t, tt, bh);
        softmaxRows(probs, bh * t, t);
        blas.gemmBatched(false, false, t, d, t, 1f, probs, 0, t, tt, v, 0, d, td, 0f, out, 0, d, td, bh);
    }

    @Override
    public void attentionBackward(Storage q, Storage k, Storage v, Storage probs, Storage gradOut,
                                  Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) {
        if (bh == 0 || t == 0 || (gradQ == null && gradK == null && gradV == null)) return;
        Blas blas = backend.blas();
        int td = t * d, tt = t * t;
        // every gradient accumulates: beta = 1
        if (gradV != null) blas.gemmBatched(true, false, t, d, t, 1f, probs, 0, t, tt, gradOut, 0, d, td, 1f, gradV, 0, d, td, bh);
        if (gradQ == null && gradK == null) return;
        // dP = gradOut·vᵀ, turned in place into the score gradient dS = P∘(dP − rowsum(dP∘P))
        Storage scores = backend.allocate(4L * bh * tt);
        blas.gemmBatched(false, true, t, t, d, 1f, gradOut, 0, d, td, v, 0, d, td, 0f, scores, 0, t, tt, bh);
        softmaxBackwardRows(probs, scores, bh * t, t);
        // scores were scale·q·kᵀ: dq += scale·dS·k, dk += scale·dSᵀ·q
        if (gradQ != null) blas.gemmBatched(false, false, t, d, t, scale, scores, 0, t, tt, k, 0, d, td, 1f, gradQ, 0, d, td, bh);
        if (gradK != null) blas.gemmBatched(true, false, t, d, t, scale, scores, 0, t, tt, q, 0, d, td, 1f, gradK, 0, d, td, bh);
        backend.free(scores);
    }

    /** p = softmax(p) per row of [rows, cols], in place. */
    void softmaxRows(Storage p, int rows, int cols) {
        backend.launch(MODULE, "softmaxRowsInPlace", rowGrid(rows), 1, ROW_BLOCK, 0, ptr(p), rows, cols);
    }

    /** grad = p∘(grad − rowsum(grad∘p)) per row, in place: the softmax backward given its output p. */
    void softmaxBackwardRows(Storage p, Storage grad, int rows, int cols) {
        backend.launch(MODULE, "softmaxBackwardRowsInPlace", rowGrid(rows), 1, ROW_BLOCK, 0, ptr(p), ptr(grad), rows, cols);
    }

    private int rowGrid(int rows) {
        return backend.blocksFor(32L * rows, ROW_BLOCK);
    }
}
