package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Blas;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasMath;
import jcuda.jcublas.cublasStatus;
import jcuda.runtime.cudaStream_t;

import static jcuda.cudaDataType.CUDA_R_16BF;
import static jcuda.cudaDataType.CUDA_R_32F;
import static jcuda.jcublas.cublasComputeType.CUBLAS_COMPUTE_32F;
import static jcuda.jcublas.cublasGemmAlgo.CUBLAS_GEMM_DEFAULT;
import static jcuda.jcublas.cublasOperation.CUBLAS_OP_N;
import static jcuda.jcublas.cublasOperation.CUBLAS_OP_T;

/**
 * GEMMs through cuBLAS on the backend's stream, full float32 (no TF32: CUBLAS_DEFAULT_MATH). cuBLAS is
 * column-major; a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so every call swaps
 * the operands and m with n instead of transposing anything.
 *
 * <p>The bf16 GEMMs (mixed precision) read bfloat16 A and B and accumulate in float32 into a float32 C
 * (cublasGemmEx with CUBLAS_COMPUTE_32F, tensor cores). JCublas's {@code cublasGemmEx} takes the legacy
 * cudaDataType compute type; its {@code _new} forms take the cublasComputeType_t that cuBLAS 11+ expects.
 */
final class CudaBlas implements Blas {
    private final CudaBackend backend;
    private cublasHandle handle;

    CudaBlas(CudaBackend backend) {
        this.backend = backend;
    }

    /** Created on first use: loading JCublas's natives needs libcublas, which a CPU-only run never touches. */
    private synchronized cublasHandle handle() {
        if (handle == null) {
            backend.device.makeCurrent();
            JCublas2.setExceptionsEnabled(false);
            cublasHandle h = new cublasHandle();
            check(JCublas2.cublasCreate(h), "cublasCreate");
            check(JCublas2.cublasSetStream(h, new cudaStream_t(backend.device.stream)), "cublasSetStream");
            check(JCublas2.cublasSetMathMode(h, cublasMath.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            handle = h;
        }
        backend.device.makeCurrent();
        return handle;
    }

    /** cuBLAS's version as major.minor.patch. */
    String version() {
        int[] v = new int[1];
        check(JCublas2.cublasGetVersion(handle(), v), "cublasGetVersion");
        return v[0] / 10000 + "." + (v[0] / 100) % 100 + "." + v[0] % 100;
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
                     float beta, Storage c, int cOff, int ldc) {
        if (m == 0 || n == 0) return;
        check(JCublas2.cublasSgemm(handle(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                        Pointer.to(new float[]{alpha}), CudaBackend.ptr(b, bOff), ldb, CudaBackend.ptr(a, aOff), lda,
                        Pointer.to(new float[]{beta}), CudaBackend.ptr(c, cOff), ldc),
                "cublasSgemm(m=" + m + ", n=" + n + ", k=" + k + ", transA=" + transA + ", transB=" + transB + ")");
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                            Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                            float beta, Storage c, int cOff, int ldc, int strideC, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        Blas.requireDistinctOutputs(strideC, batch);
        check(JCublas2.cublasSgemmStridedBatched(handle(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                        Pointer.to(new float[]{alpha}), CudaBackend.ptr(b, bOff), ldb, strideB, CudaBackend.ptr(a, aOff), lda, strideA,
                        Pointer.to(new float[]{beta}), CudaBackend.ptr(c, cOff), ldc, strideC, batch),
                "cublasSgemmStridedBatched(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
    }

    @Override
    public void gemmBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                         Storage a, int aOff, int lda, Storage b, int bOff, int ldb,
                         float beta, Storage c, int cOff, int ldc) {
        if (m == 0 || n == 0) return;
        check(JCublas2.cublasGemmEx_new(handle(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                        Pointer.to(new float[]{alpha}), bf16(b, bOff), CUDA_R_16BF, ldb, bf16(a, aOff), CUDA_R_16BF, lda,
                        Pointer.to(new float[]{beta}), CudaBackend.ptr(c, cOff), CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx bf16(m=" + m + ", n=" + n + ", k=" + k + ", transA=" + transA + ", transB=" + transB + ")");
    }

    @Override
    public void gemmBatchedBf16(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                                float beta, Storage c, int cOff, int ldc, int strideC, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        Blas.requireDistinctOutputs(strideC, batch);
        check(JCublas2.cublasGemmStridedBatchedEx_new(handle(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                        Pointer.to(new float[]{alpha}), bf16(b, bOff), CUDA_R_16BF, ldb, strideB, bf16(a, aOff), CUDA_R_16BF, lda, strideA,
                        Pointer.to(new float[]{beta}), CudaBackend.ptr(c, cOff), CUDA_R_32F, ldc, strideC, batch,
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmStridedBatchedEx bf16(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
    }

    /** The address of bfloat16 element {@code offset}. */
    private static CUdeviceptr bf16(Storage s, int offset) {
        return ((CudaStorage) s).at(2L * offset);
    }

    static void check(int status, String call) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) throw new CudaException(call + ": " + cublasStatus.stringFor(status));
    }
}
