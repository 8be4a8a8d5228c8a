package dma.engine.kernels;

import dma.engine.Storage;

/** Matrix products. Row-major: C[m×n] = alpha·op(A)·op(B) + beta·C, op(A) is m×k, op(B) is k×n. */
public interface Blas {
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
              Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
              float beta, Storage c, int cOff, int ldc);

    /** {@code batch} independent products; a stride of 0 reuses the same matrix for every batch entry. */
    void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                     float beta, Storage c, int cOff, int ldc, int strideC, int batch);
}
