package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Matrix products. Row-major: C[m×n] = alpha·op(A)·op(B) + beta·C, op(A) is m×k, op(B) is k×n. Offsets, leading
 * dimensions and strides count elements of the storage's own type.
 */
public interface Blas {
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
              Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
              float beta, Storage c, int cOff, int ldc);

    /**
     * {@code batch} independent products; a stride of 0 for a or b reuses that matrix for every entry. The entries'
     * outputs must not overlap (strideC ≥ one C): a sum over the batch is a loop of {@link #gemm} with beta = 1.
     */
    void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                     float beta, Storage c, int cOff, int ldc, int strideC, int batch);

    /**
     * {@link #gemm} with bfloat16 operands (A and B are BF16 storages) and float32 accumulation into a float32 C:
     * mixed precision's matrix product. The products of bf16 values are exact in float32, so the result differs
     * from float32 GEMM on the widened operands only by summation order.
     */
    void gemmBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                  Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
                  float beta, Storage c, int cOff, int ldc);

    /** {@link #gemmBatched} with bfloat16 operands and a float32 C, as {@link #gemmBf16}. */
    void gemmBatchedBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                         Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                         float beta, Storage c, int cOff, int ldc, int strideC, int batch);

    /** The batched products' precondition: entries writing one C would race on a GPU and need an order on the CPU. */
    static void requireDistinctOutputs(int strideC, int batch) {
        if (strideC == 0 && batch > 1)
            throw new IllegalArgumentException("gemmBatched: strideC 0 with " + batch + " entries: outputs must not overlap (loop over gemm to sum)");
    }
}
