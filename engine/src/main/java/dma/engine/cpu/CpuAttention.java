package dma.engine.cpu;

import dma.engine.Storage;
import dma.engine.kernels.Attention;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.nio.FloatBuffer;

import static dma.engine.cpu.CpuBackend.f;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

/**
 * Attention with the (batch × head) axis as the unit of parallel work: each entry does its own
 * q·kᵀ, row softmax and ·v with single-threaded sgemm calls, so its t×t scores stay in cache between
 * the steps instead of making three passes over all of bh as the composed form does.
 */
final class CpuAttention implements Attention {
    /** Multiply-adds below which an entry is not worth a thread of its own. */
    private static final long GRAIN_WORK = 1L << 16;

    static {
        Loader.load(openblas_nolapack.class);
        openblas_nolapack.blas_set_num_threads(1);
    }

    /** The backend's team: every parallel region of these kernels runs on it. */
    private final Parallel parallel;

    CpuAttention(Parallel parallel) {
        this.parallel = parallel;
    }

    @Override
    public void attention(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage out, Storage probs,
                          int bh, int t, int d, float scale) {
        CpuStorage Q = (CpuStorage) q, K = (CpuStorage) k, V = (CpuStorage) v, O = (CpuStorage) out, P = (CpuStorage) probs;
        parallel.forRange(bh, grain(t, d), (s, e) -> {
            for (int i = s; i < e; i++) {
                int x = i * t * d, p = i * t * t;
                // scores = scale·q·kᵀ, softmaxed in place
                sgemm(false, true, t, t, d, scale, Q, qOff + x, d, K, kOff + x, d, 0f, P, p, t);
                for (int r = 0; r < t; r++) CpuReductions.softmaxRow(P.f, P.f, p + r * t, t);
                sgemm(false, false, t, d, t, 1f, P, p, t, V, vOff + x, d, 0f, O, x, d);
            }
        });
    }

    @Override
    public void attentionBackward(Storage q, int qOff, Storage k, int kOff, Storage v, int vOff, Storage probs, Storage gradOut,
                                  Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) {
        if (gradQ == null && gradK == null && gradV == null) return;
        CpuStorage Q = (CpuStorage) q, K = (CpuStorage) k, V = (CpuStorage) v, P = (CpuStorage) probs, G = (CpuStorage) gradOut;
        CpuStorage GQ = (CpuStorage) gradQ, GK = (CpuStorage) gradK, GV = (CpuStorage) gradV;
        boolean needScores = GQ != null || GK != null;
        int tt = t * t;
        parallel.forRange(bh, grain(t, d), (s, e) -> {
            // per chunk: dP = gradOut·vᵀ and dS = softmax backward of dP, both t×t
            CpuStorage scratch = needScores ? (CpuStorage) Q.backend.allocate(2L * tt * Float.BYTES) : null;
            try {
                for (int i = s; i < e; i++) {
                    int x = i * t * d, p = i * tt;
                    if (GV != null) sgemm(true, false, t, d, t, 1f, P, p, t, G, x, d, 1f, GV, vOff + x, d);
                    if (!needScores) continue;
                    sgemm(false, true, t, t, d, 1f, G, x, d, V, vOff + x, d, 0f, scratch, 0, t);
                    FloatBuffer probsI = P.f.slice(p, tt), dP = scratch.f.slice(0, tt), dS = scratch.f.slice(tt, tt);
                    for (int j = 0; j < tt; j++) dS.put(j, 0f);
                    for (int r = 0; r < t; r++) CpuReductions.softmaxBackwardRow(probsI, dP, dS, r * t, t);
                    // scores = scale·q·kᵀ: dq = scale·dS·k, dk = scale·dSᵀ·q
                    if (GQ != null) sgemm(false, false, t, d, t, scale, scratch, tt, t, K, kOff + x, d, 1f, GQ, qOff + x, d);
                    if (GK != null) sgemm(true, false, t, d, t, scale, scratch, tt, t, Q, qOff + x, d, 1f, GK, kOff + x, d);
                }
            } finally {
                if (scratch != null) Q.backend.free(scratch);
            }
        });
    }

    private static int grain(int t, int d) {
        long work = Math.max(1L, (long) t * t * d);
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, GRAIN_WORK / work));
    }

    /** Row-major single-threaded sgemm on storages at element offsets; k = 0 (an empty head) gives C = beta·C. */
    private static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              CpuStorage a, int aOff, int lda, CpuStorage b, int bOff, int ldb,
                              float beta, CpuStorage c, int cOff, int ldc) {
        if (k == 0) {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    int at = cOff + i * ldc + j;
                    c.f.put(at, beta == 0f ? 0f : beta * c.f.get(at));
                }
            return;
        }
        openblas_nolapack.cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a.at(aOff), lda, b.at(bOff), ldb, beta, c.at(cOff), ldc);
    }
}
