package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Blas;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

/**
 * OpenBLAS sgemm, single-threaded per call; the parallelism is ours ({@link Parallel}): a large
 * product is split into row (or column) blocks of C, a batch into groups of entries. OpenBLAS's own
 * pool would fight the Java pool for the same cores.
 *
 * <p>The bf16-operand GEMMs widen the operands to float32 (exact) and run the same sgemm: the reference the CUDA
 * bf16 GEMMs are checked against.
 */
final class CpuBlas implements Blas {
    /** Below this many multiply-adds a GEMM is not worth splitting. */
    private static final long SPLIT_WORK = 1L << 18;
    /** Elements per task when widening bf16 operands. */
    private static final int WIDEN_GRAIN = 1 << 14;

    static {
        Loader.load(openblas_nolapack.class);
        openblas_nolapack.blas_set_num_threads(1);
    }

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuBlas(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
                     float beta, Storage c, int cOff, int ldc) {
        if (m == 0 || n == 0) return;
        CpuStorage A = (CpuStorage) a, B = (CpuStorage) b, C = (CpuStorage) c;
        long work = (long) m * n * k;
        int parts = work < SPLIT_WORK ? 1 : parallel.chunks(Math.max(m, n), 16);
        if (parts <= 1) {
            sgemm(transA, transB, m, n, k, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
        } else if (m >= n) {
            // rows of C ← rows of op(A)
            parallel.forRange(m, 16, (s, e) -> sgemm(transA, transB, e - s, n, k, alpha,
                    A, aOff + (transA ? s : s * lda), lda, B, bOff, ldb, beta, C, cOff + s * ldc, ldc));
        } else {
            // columns of C ← columns of op(B)
            parallel.forRange(n, 16, (s, e) -> sgemm(transA, transB, m, e - s, k, alpha,
                    A, aOff, lda, B, bOff + (transB ? s * ldb : s), ldb, beta, C, cOff + s, ldc));
        }
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                            Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                            float beta, Storage c, int cOff, int ldc, int strideC, int batch) {
        if (batch == 1) {
            gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        CpuStorage A = (CpuStorage) a, B = (CpuStorage) b, C = (CpuStorage) c;
        Blas.requireDistinctOutputs(strideC, batch);
        parallel.forRange(batch, 1, (s, e) -> {
            for (int i = s; i < e; i++)
                sgemm(transA, transB, m, n, k, alpha, A, aOff + i * strideA, lda, B, bOff + i * strideB, ldb,
                        beta, C, cOff + i * strideC, ldc);
        });
    }

    @Override
    public void gemmBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                         Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
                         float beta, Storage c, int cOff, int ldc) {
        gemmBatchedBf16(transA, transB, m, n, k, alpha, a, aOff, lda, 0, b, bOff, ldb, 0, beta, c, cOff, ldc, 0, 1);
    }

    @Override
    public void gemmBatchedBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                                float beta, Storage c, int cOff, int ldc, int strideC, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        CpuStorage A = widen(a, aOff, span(transA ? k : m, transA ? m : k, lda, strideA, batch));
        try {
            CpuStorage B = widen(b, bOff, span(transB ? n : k, transB ? k : n, ldb, strideB, batch));
            try {
                gemmBatched(transA, transB, m, n, k, alpha, A, 0, lda, strideA, B, 0, ldb, strideB, beta, c, cOff, ldc, strideC, batch);
            } finally {
                B.backend.free(B);
            }
        } finally {
            A.backend.free(A);
        }
    }

    /** Elements from the first to the last one a batch of rows×cols matrices (leading dimension ld) touches. */
    private static int span(int rows, int cols, int ld, int stride, int batch) {
        if (rows == 0 || cols == 0) return 0;
        return Math.toIntExact((long) (batch - 1) * stride + (long) (rows - 1) * ld + cols);
    }

    /** A float32 copy of {@code n} bf16 elements from {@code offset}, from the backend's allocator; the caller frees it. */
    private CpuStorage widen(Storage bf16, int offset, int n) {
        CpuStorage src = (CpuStorage) bf16;
        CpuStorage dst = (CpuStorage) src.backend.allocate(4L * n);
        ShortBuffer from = src.shorts();
        FloatBuffer to = dst.f;
        parallel.forRange(n, WIDEN_GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) to.put(i, Float.intBitsToFloat((from.get(offset + i) & 0xFFFF) << 16));
        });
        return dst;
    }

    private static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              CpuStorage a, int aOff, int lda, CpuStorage b, int bOff, int ldb,
                              float beta, CpuStorage c, int cOff, int ldc) {
        if (k == 0) {
            // C = beta·C (sgemm with k = 0 is not portable)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) c.f.put(cOff + i * ldc + j, beta == 0f ? 0f : beta * c.f.get(cOff + i * ldc + j));
            return;
        }
        openblas_nolapack.cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a.at(aOff), lda, b.at(bOff), ldb, beta, c.at(cOff), ldc);
    }
}
