package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * cuBLAS's bf16-operand GEMMs (cublasGemmEx / cublasGemmStridedBatchedEx, float32 accumulation) against the CPU
 * reference on the same bf16 operands, uploaded as raw bits so the check does not depend on the cast kernels.
 * The products of bf16 values are exact in float32, so only the summation order differs: float32 tolerance.
 */
class BlasBf16ParityTest {
    /** The same random bf16 values (truncated float bits) on both devices. */
    private static Storage[] bf16Pair(Parity p, int n) {
        float[] v = Parity.random(n);
        ByteBuffer bytes = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) bytes.putShort(2 * i, (short) (Float.floatToRawIntBits(v[i]) >>> 16));
        Storage[] s = {p.cpu.allocate(2L * n), p.gpu.allocate(2L * n)};
        p.cpu.uploadBytes(bytes.array(), s[0]);
        p.gpu.uploadBytes(bytes.array(), s[1]);
        return s;
    }

    @Test
    void gemmMatchesCpuForEveryTransposeOffsetAndBeta() {
        Parity p = Parity.cuda();
        int[][] sizes = {{1, 1, 1}, {17, 33, 65}, {129, 7, 300}, {64, 64, 64}};
        for (int[] s : sizes)
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    int m = s[0], n = s[1], k = s[2];
                    String what = "gemmBf16 " + m + "×" + n + "×" + k + " ta=" + ta + " tb=" + tb;
                    // packed operands, fresh output poisoned with NaN, beta = 0
                    Storage[] a = bf16Pair(p, m * k), b = bf16Pair(p, k * n), c = p.output(m * n);
                    p.cpu.blas().gemmBf16(ta, tb, m, n, k, 1f, a[0], 0, ta ? m : k, b[0], 0, tb ? k : n, 0f, c[0], 0, n);
                    p.gpu.blas().gemmBf16(ta, tb, m, n, k, 1f, a[1], 0, ta ? m : k, b[1], 0, tb ? k : n, 0f, c[1], 0, n);
                    p.assertClose(c, m * n, Parity.F32, what);
                    Parity.free(a, b, c);
                    // offsets and padded leading dimensions, accumulating with alpha and beta
                    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1, aOff = 5, bOff = 2, cOff = 4;
                    int cSize = cOff + m * ldc;
                    a = bf16Pair(p, aOff + (ta ? k : m) * lda);
                    b = bf16Pair(p, bOff + (tb ? n : k) * ldb);
                    c = p.accumulator(cSize);
                    p.cpu.blas().gemmBf16(ta, tb, m, n, k, 1.5f, a[0], aOff, lda, b[0], bOff, ldb, 0.5f, c[0], cOff, ldc);
                    p.gpu.blas().gemmBf16(ta, tb, m, n, k, 1.5f, a[1], aOff, lda, b[1], bOff, ldb, 0.5f, c[1], cOff, ldc);
                    p.assertClose(c, cSize, Parity.F32, what + " with offsets, alpha 1.5, beta 0.5");
                    Parity.free(a, b, c);
                }
    }

    @Test
    void batchedGemmMatchesCpuWithStridesAndASharedOperand() {
        Parity p = Parity.cuda();
        int m = 17, n = 9, k = 40, batch = 5;
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true})
                for (boolean sharedB : new boolean[]{false, true}) {
                    int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
                    int strideA = m * k + 3, strideB = sharedB ? 0 : k * n, strideC = m * n;
                    Storage[] a = bf16Pair(p, 1 + batch * strideA), b = bf16Pair(p, (sharedB ? 1 : batch) * k * n),
                            c = p.output(batch * strideC);
                    p.cpu.blas().gemmBatchedBf16(ta, tb, m, n, k, 1f, a[0], 1, lda, strideA, b[0], 0, ldb, strideB, 0f, c[0], 0, ldc, strideC, batch);
                    p.gpu.blas().gemmBatchedBf16(ta, tb, m, n, k, 1f, a[1], 1, lda, strideA, b[1], 0, ldb, strideB, 0f, c[1], 0, ldc, strideC, batch);
                    p.assertClose(c, batch * strideC, Parity.F32, "gemmBatchedBf16 ta=" + ta + " tb=" + tb + " sharedB=" + sharedB);
                    Parity.free(a, b, c);
                }
    }
}
