package dma.engine.cpu;

import dma.engine.CounterRng;
import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The bf16-operand GEMMs of the CPU reference: with offsets, padded leading dimensions, batch strides (0 = shared)
 * and alpha/beta, each equals float32 GEMM on the same values widened to float32, and no memory is left behind.
 */
class CpuBlasBf16Test {
    private final CpuBackend be = CpuBackend.get();
    private long seed = 1;

    /** bf16-representable values in [-1, 1): the same numbers in a BF16 and an F32 storage. */
    private Storage[] operand(int n) {
        long s = CounterRng.derive(0xB16, seed++);
        ByteBuffer bytes = ByteBuffer.allocate(2 * n).order(ByteOrder.nativeOrder());
        float[] widened = new float[n];
        for (int i = 0; i < n; i++) {
            short h = CpuElementwise.toBf16(2 * CounterRng.uniform(s, i) - 1);
            bytes.putShort(2 * i, h);
            widened[i] = Float.intBitsToFloat((h & 0xFFFF) << 16);
        }
        Storage bf16 = be.allocate(2L * n), f32 = be.allocate(4L * n);
        be.uploadBytes(bytes.array(), bf16);
        be.upload(widened, f32, 0);
        return new Storage[]{bf16, f32};
    }

    private Storage[] accumulators(int n) {
        long s = CounterRng.derive(0xC, seed++);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = CounterRng.uniform(s, i);
        Storage a = be.allocate(4L * n), b = be.allocate(4L * n);
        be.upload(v, a, 0);
        be.upload(v, b, 0);
        return new Storage[]{a, b};
    }

    private void assertSame(Storage[] c, int n, String what) {
        float[] got = new float[n], want = new float[n];
        be.download(c[0], 0, got);
        be.download(c[1], 0, want);
        for (int i = 0; i < n; i++) assertEquals(want[i], got[i], 1e-6f * (1 + Math.abs(want[i])), what + ", element " + i);
    }

    private static void free(Storage[]... pairs) {
        for (Storage[] p : pairs) for (Storage s : p) s.backend().free(s);
    }

    @Test
    void gemmWithOffsetsAndPaddingEqualsFloat32OnWidenedValues() {
        int[][] sizes = {{1, 1, 1}, {7, 5, 33}, {130, 67, 97}, {3, 200, 0}};
        long live = be.memory().liveBytes();
        for (int[] s : sizes)
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    int m = s[0], n = s[1], k = s[2];
                    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1, aOff = 5, bOff = 2, cOff = 4;
                    int aSize = aOff + (ta ? k : m) * lda, bSize = bOff + (tb ? n : k) * ldb, cSize = cOff + m * ldc;
                    Storage[] a = operand(aSize), b = operand(bSize), c = accumulators(cSize);
                    be.blas().gemmBf16(ta, tb, m, n, k, 1.5f, a[0], aOff, lda, b[0], bOff, ldb, 0.5f, c[0], cOff, ldc);
                    be.blas().gemm(ta, tb, m, n, k, 1.5f, a[1], aOff, lda, b[1], bOff, ldb, 0.5f, c[1], cOff, ldc);
                    assertSame(c, cSize, "gemm " + m + "×" + n + "×" + k + " ta=" + ta + " tb=" + tb);
                    free(a, b, c);
                }
        assertEquals(live, be.memory().liveBytes(), "the widened copies are freed");
    }

    @Test
    void batchedEntriesWritingOneOutputAreRefused() {
        Storage a = be.allocate(4 * 4), b = be.allocate(4 * 4), c = be.allocate(4 * 4);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> be.blas().gemmBatched(false, false, 2, 2, 2, 1f, a, 0, 2, 4, b, 0, 2, 4, 0f, c, 0, 2, 0, 2));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("strideC 0"), e.getMessage());
        be.free(a);
        be.free(b);
        be.free(c);
    }

    @Test
    void batchedGemmWithStridesEqualsFloat32OnWidenedValues() {
        int m = 6, n = 9, k = 11, batch = 4;
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true})
                for (boolean sharedB : new boolean[]{false, true}) {
                    int lda = (ta ? m : k) + 1, ldb = tb ? k : n, ldc = n;
                    int strideA = (ta ? k : m) * lda + 3, strideB = sharedB ? 0 : (tb ? n : k) * ldb, strideC = m * ldc + 2;
                    int aOff = 1, bOff = 3;
                    Storage[] a = operand(aOff + batch * strideA), b = operand(bOff + (sharedB ? 1 : batch) * (tb ? n : k) * ldb),
                            c = accumulators(batch * strideC);
                    be.blas().gemmBatchedBf16(ta, tb, m, n, k, 1f, a[0], aOff, lda, strideA, b[0], bOff, ldb, strideB,
                            1f, c[0], 0, ldc, strideC, batch);
                    be.blas().gemmBatched(ta, tb, m, n, k, 1f, a[1], aOff, lda, strideA, b[1], bOff, ldb, strideB,
                            1f, c[1], 0, ldc, strideC, batch);
                    assertSame(c, batch * strideC, "batched ta=" + ta + " tb=" + tb + " sharedB=" + sharedB);
                    free(a, b, c);
                }
    }
}
