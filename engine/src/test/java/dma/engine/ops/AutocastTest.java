package dma.engine.ops;

import dma.engine.Autocast;
import dma.engine.DType;
import dma.engine.Flops;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.function.Function;

import static dma.engine.ops.TestTensors.accountedBytes;
import static dma.engine.ops.TestTensors.input;
import static dma.engine.ops.TestTensors.param;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bf16 autocast of the matrix products: under {@link Autocast#bf16()} matmul, linear and the convolution GEMMs
 * compute, forward and backward, what float32 arithmetic gives on bf16-rounded operands (and a bf16-rounded
 * output gradient); outside the region nothing changes; the bf16 copies are freed deterministically.
 */
class AutocastTest extends EveryBackend {
    /**
     * Each element within this fraction of Σ|terms| of the double reference on rounded operands: float32 sums of
     * k exact products stay far inside it, while float32 operands (not rounded) miss by about 2⁻⁹·Σ|terms|/√k.
     */
    private static final double ROUNDED_REFERENCE = 1e-5;
    /** ‖autocast − float32‖/‖float32‖: bf16 keeps 8 significant bits, about 2⁻⁹ relative per operand. */
    private static final double BF16 = 1e-2;

    /** Round to nearest even, as the engine's cast (the test values are finite). */
    static float bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000);
    }

    static float[] bf16(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) r[i] = bf16(v[i]);
        return r;
    }

    /**
     * f's output and the gradients of Σ out ⊙ R with respect to each input (null where none), R a fixed projection
     * already representable in bf16 (so the output gradient's cast is exact). With {@code mixed} only the forward runs
     * inside the autocast region: backward must keep the forward's precision by itself.
     */
    private float[][] run(boolean mixed, Function<Tensor[], Tensor> f, Tensor... inputs) {
        float[][] result = new float[inputs.length + 1][];
        try (Scope s = Scope.open()) {
            Tensor out;
            if (mixed) {
                try (Autocast.Region r = Autocast.bf16()) {
                    out = f.apply(inputs);
                }
            } else {
                out = f.apply(inputs);
            }
            assertFalse(Autocast.isBf16());
            result[0] = out.toFloats();
            out.mul(Tensor.of(be, projection(out.numel()), out.shape())).sumAll().backward();
            for (int i = 0; i < inputs.length; i++) result[i + 1] = inputs[i].grad() == null ? null : inputs[i].grad().toFloats();
        } finally {
            for (Tensor t : inputs) t.zeroGrad();
        }
        return result;
    }

    private static float[] projection(int n) {
        return bf16(GradCheck.projection(n, 4242));
    }

    /**
     * Σ_q op(A)[i,q]·op(B)[q,j] per batch entry in double from bf16-rounded operands, with the gradients of
     * Σ C ⊙ R (R bf16-rounded) in A's and B's storage layout; every second array holds Σ|terms| per element.
     */
    static double[][] matmulReference(float[] a, float[] b, float[] r, int batch, int m, int n, int k,
                                      boolean ta, boolean tb, boolean sharedB) {
        float[] A = bf16(a), B = bf16(b), R = bf16(r);
        double[] c = new double[batch * m * n], cAbs = new double[c.length];
        double[] da = new double[A.length], daAbs = new double[A.length], db = new double[B.length], dbAbs = new double[B.length];
        for (int e = 0; e < batch; e++) {
            int aOff = e * m * k, bOff = sharedB ? 0 : e * k * n, cOff = e * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    for (int q = 0; q < k; q++) {
                        int ai = aOff + (ta ? q * m + i : i * k + q), bi = bOff + (tb ? j * k + q : q * n + j), ci = cOff + i * n + j;
                        double av = A[ai], bv = B[bi], rv = R[ci];
                        c[ci] += av * bv;
                        cAbs[ci] += Math.abs(av * bv);
                        da[ai] += rv * bv;
                        daAbs[ai] += Math.abs(rv * bv);
                        db[bi] += av * rv;
                        dbAbs[bi] += Math.abs(av * rv);
                    }
        }
        return new double[][]{c, cAbs, da, daAbs, db, dbAbs};
    }

    private static void assertCloseToReference(double[] expected, double[] absSum, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++)
            assertEquals(expected[i], actual[i], ROUNDED_REFERENCE * (1 + absSum[i]), what + ", element " + i);
    }

    /** Autocast's results against the rounded double reference and against float32 at bf16 tolerance. */
    private void checkMatmul(String what, Tensor a, Tensor b, int batch, int m, int n, int k, boolean ta, boolean tb, boolean sharedB) {
        Function<Tensor[], Tensor> f = x -> BlasOps.matmul(x[0], x[1], ta, tb);
        float[][] mixed = run(true, f, a, b), full = run(false, f, a, b);
        double[][] ref = matmulReference(a.toFloats(), b.toFloats(), projection(batch * m * n), batch, m, n, k, ta, tb, sharedB);
        String[] names = {"output", "grad a", "grad b"};
        for (int i = 0; i < 3; i++) {
            assertCloseToReference(ref[2 * i], ref[2 * i + 1], mixed[i], what + " " + names[i]);
            double rel = OpChecks.relativeError(mixed[i], full[i]);
            assertTrue(rel <= BF16, what + " " + names[i] + ": relative error to float32 " + rel);
            assertTrue(rel > 0, what + " " + names[i] + ": identical to float32, so autocast did not round the operands");
        }
    }

    @Test
    void matmulAllTransposesMatchRoundedReference() {
        int m = 5, k = 37, n = 9;
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                Tensor a = param(be, ta ? new int[]{k, m} : new int[]{m, k});
                Tensor b = param(be, tb ? new int[]{n, k} : new int[]{k, n});
                checkMatmul("matmul ta=" + ta + " tb=" + tb, a, b, 1, m, n, k, ta, tb, true);
            }
    }

    @Test
    void batchedAndSharedMatmulMatchRoundedReference() {
        int m = 6, k = 19, n = 7;
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                Tensor a = param(be, ta ? new int[]{2, 3, k, m} : new int[]{2, 3, m, k});
                Tensor b = param(be, tb ? new int[]{2, 3, n, k} : new int[]{2, 3, k, n});
                checkMatmul("bmm ta=" + ta + " tb=" + tb, a, b, 6, m, n, k, ta, tb, false);
                Tensor shared = param(be, tb ? new int[]{n, k} : new int[]{k, n});
                checkMatmul("shared b ta=" + ta + " tb=" + tb, a, shared, 6, m, n, k, ta, tb, true);
            }
    }

    @Test
    void linearMatchesRoundedReference() {
        int rows = 14, in = 37, out = 9;
        Tensor x = param(be, 2, 7, in), w = param(be, out, in), bias = param(be, out);
        Function<Tensor[], Tensor> f = t -> BlasOps.linear(t[0], t[1], t[2]);
        float[][] mixed = run(true, f, x, w, bias), full = run(false, f, x, w, bias);
        float[] r = projection(rows * out), bv = bias.toFloats();
        double[][] ref = matmulReference(x.toFloats(), w.toFloats(), r, 1, rows, out, in, false, true, true);
        for (int i = 0; i < rows * out; i++) ref[0][i] += bv[i % out];
        assertCloseToReference(ref[0], ref[1], mixed[0], "linear output");
        assertCloseToReference(ref[2], ref[3], mixed[1], "linear grad x");
        assertCloseToReference(ref[4], ref[5], mixed[2], "linear grad w");
        // the bias gradient is a float32 sum of the float32 output gradient, as without autocast
        assertArrayEquals(full[3], mixed[3], 0f, "linear grad bias");
        for (int i = 0; i < 3; i++) assertTrue(OpChecks.relativeError(mixed[i], full[i]) <= BF16, "linear part " + i);
    }

    @Test
    void linearWithoutBiasAndFrozenWeight() {
        Tensor x = param(be, 11, 13), w = input(be, 5, 13);
        float[][] mixed = run(true, t -> BlasOps.linear(t[0], t[1], null), x, w);
        assertEquals(11 * 13, mixed[1].length);
        assertNull(mixed[2], "a frozen weight gets no gradient");
        double[][] ref = matmulReference(x.toFloats(), w.toFloats(), projection(11 * 5), 1, 11, 5, 13, false, true, true);
        assertCloseToReference(ref[2], ref[3], mixed[1], "grad x");
    }

    /** With bf16-representable inputs the cast is exact, so autocast's convolution is float32's on the same values. */
    @Test
    void conv2dEqualsFloat32OnRoundedInputs() {
        int[] xs = {2, 3, 9, 9}, ws = {5, 3, 3, 3};
        Tensor x = rounded(xs), w = rounded(ws), bias = param(be, 5);
        for (int[] sp : new int[][]{{1, 1}, {2, 0}}) {
            Function<Tensor[], Tensor> f = t -> ConvolutionOps.conv2d(t[0], t[1], t[2], sp[0], sp[1]);
            float[][] mixed = run(true, f, x, w, bias), full = run(false, f, x, w, bias);
            for (int i = 0; i < 4; i++)
                assertTrue(OpChecks.relativeError(mixed[i], full[i]) <= 1e-5, "conv stride " + sp[0] + " part " + i + ": "
                        + OpChecks.relativeError(mixed[i], full[i]));
        }
        Tensor xr = param(be, xs), wr = param(be, ws);
        Function<Tensor[], Tensor> f = t -> ConvolutionOps.conv2d(t[0], t[1], null, 1, 1);
        float[][] mixed = run(true, f, xr, wr), full = run(false, f, xr, wr);
        for (int i = 0; i < 3; i++) {
            double rel = OpChecks.relativeError(mixed[i], full[i]);
            assertTrue(rel <= BF16 && rel > 0, "conv on unrounded inputs, part " + i + ": " + rel);
        }
    }

    private Tensor rounded(int... shape) {
        Tensor t = param(be, shape);
        t.copyFrom(bf16(t.toFloats()));
        return t;
    }

    @Test
    void composedAttentionFollowsFloat32() {
        Tensor q = param(be, 2, 3, 17, 16), k = param(be, 2, 3, 17, 16), v = param(be, 2, 3, 17, 16);
        Function<Tensor[], Tensor> f = t -> AttentionOps.attentionComposed(t[0], t[1], t[2], 0.25f);
        float[][] mixed = run(true, f, q, k, v), full = run(false, f, q, k, v);
        for (int i = 0; i < 4; i++) {
            assertEquals(full[i].length, mixed[i].length);
            double rel = OpChecks.relativeError(mixed[i], full[i]);
            assertTrue(rel <= 2 * BF16 && rel > 0, "attention part " + i + ": relative error to float32 " + rel);
        }
    }

    @Test
    void outsideTheRegionNothingChanges() {
        assertFalse(Autocast.isBf16());
        try (Autocast.Region outer = Autocast.bf16()) {
            try (Autocast.Region inner = Autocast.bf16()) {
                assertTrue(Autocast.isBf16());
            }
            assertTrue(Autocast.isBf16(), "closing an inner region restores the outer one");
        }
        assertFalse(Autocast.isBf16());

        int m = 7, k = 33, n = 5;
        Tensor a = param(be, m, k), b = param(be, k, n);
        Function<Tensor[], Tensor> f = t -> BlasOps.matmul(t[0], t[1]);
        float[][] before = run(false, f, a, b);
        run(true, f, a, b);
        float[][] after = run(false, f, a, b);
        for (int i = 0; i < before.length; i++) assertArrayEquals(before[i], after[i], 0f, "part " + i);
        // and float32 matmul is the plain float32 GEMM, bit for bit
        try (Tensor c = Tensor.empty(be, m, n)) {
            be.blas().gemm(false, false, m, n, k, 1f, a.storage(), 0, k, b.storage(), 0, n, 0f, c.storage(), 0, n);
            assertArrayEquals(c.toFloats(), before[0], 0f);
        }
    }

    @Test
    void flopCountsDoNotDependOnPrecision() {
        Tensor x = param(be, 2, 3, 8, 8), w = param(be, 4, 3, 3, 3), lw = param(be, 6, 4 * 64);
        Function<Tensor[], Tensor> f = t -> {
            Tensor y = ConvolutionOps.conv2d(t[0], t[1], null, 1, 1).reshape(2, 4 * 64);
            return BlasOps.matmul(BlasOps.linear(y, t[2], null), BlasOps.linear(y, t[2], null), true, false);
        };
        Flops.Count start = Flops.now();
        run(false, f, x, w, lw);
        Flops.Count full = Flops.now().minus(start);
        start = Flops.now();
        run(true, f, x, w, lw);
        assertEquals(full, Flops.now().minus(start));
        assertTrue(full.forward() > 0 && full.inputGrad() > 0 && full.weightGrad() > 0);
    }

    @Test
    void copiesLiveOnlyAsLongAsBackwardNeedsThem() {
        int[] xs = {12, 40}, ws = {24, 40};
        Tensor x = input(be, xs), w = param(be, ws), xTrain = param(be, xs);
        long outBytes = accountedBytes(be, DType.F32, 12, 24);
        try (Autocast.Region r = Autocast.bf16(); Scope s = Scope.open()) {
            long start = be.memory().liveBytes();
            try (GradMode off = GradMode.disabled()) {
                BlasOps.linear(x, w, null);
            }
            assertEquals(outBytes, be.memory().liveBytes() - start, "no tape: only the output remains");

            start = be.memory().liveBytes();
            BlasOps.linear(x, w, null);
            assertEquals(outBytes + accountedBytes(be, DType.BF16, xs), be.memory().liveBytes() - start,
                    "only the weight is trained: x's copy is kept for its gradient, the weight's is freed");

            start = be.memory().liveBytes();
            BlasOps.linear(xTrain, w, null);
            assertEquals(outBytes + accountedBytes(be, DType.BF16, xs) + accountedBytes(be, DType.BF16, ws), be.memory().liveBytes() - start,
                    "both trained: both copies kept for backward");
        }
    }

    @Test
    void liveBytesReturnToBaselineAfterAnAutocastStep() {
        Tensor x = input(be, 4, 2, 8, 8), cw = param(be, 6, 2, 3, 3), cb = param(be, 6), lw = param(be, 10, 6 * 16), lb = param(be, 10);
        Runnable step = () -> {
            try (Autocast.Region r = Autocast.bf16(); Scope s = Scope.open()) {
                Tensor h = ElementwiseOps.gelu(ConvolutionOps.conv2d(x, cw, cb, 2, 1)).reshape(4, 6 * 16);
                Tensor logits = BlasOps.linear(h, lw, lb);
                Tensor att = AttentionOps.attentionComposed(logits.reshape(2, 2, 10), logits.reshape(2, 2, 10), logits.reshape(2, 2, 10), 0.3f);
                LossesOps.crossEntropy(att.reshape(4, 10), new int[]{1, 3, 5, 7}, 0.1f).backward();
            }
        };
        step.run(); // creates the parameter gradients, which live with the parameters
        long baseline = be.memory().liveBytes();
        for (int i = 0; i < 3; i++) {
            step.run();
            assertEquals(baseline, be.memory().liveBytes(), "live bytes after autocast step " + (i + 2));
        }
        assertNotNull(lw.grad());
        // a recorded forward whose backward never runs: the scope frees the copies it saved
        try (Autocast.Region r = Autocast.bf16(); Scope s = Scope.open()) {
            BlasOps.linear(ConvolutionOps.conv2d(x, cw, cb, 2, 1).reshape(4, 6 * 16), lw, lb);
        }
        assertEquals(baseline, be.memory().liveBytes(), "live bytes after a forward without backward");
    }
}
