package dma.engine.ops;

import dma.engine.DType;
import dma.engine.Tensor;
import dma.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import static dma.engine.ops.TestTensors.input;
import static dma.engine.ops.TestTensors.param;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Float64 finite-difference checks of the linear algebra, elementwise, shape and reduction ops. */
class CoreOpsGradTest extends EveryBackend {
    private final GradCheck check = GradCheck.standard();

    @Test
    void matmulAllTransposes() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                int m = 5, k = 7, n = 3;
                Tensor a = param(be, ta ? new int[]{k, m} : new int[]{m, k});
                Tensor b = param(be, tb ? new int[]{n, k} : new int[]{k, n});
                check.check("matmul ta=" + ta + " tb=" + tb, x -> BlasOps.matmul(x[0], x[1], ta, tb), a, b);
            }
    }

    @Test
    void batchedMatmulAllTransposes() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                int m = 4, k = 3, n = 5;
                Tensor a = param(be, ta ? new int[]{2, 3, k, m} : new int[]{2, 3, m, k});
                Tensor b = param(be, tb ? new int[]{2, 3, n, k} : new int[]{2, 3, k, n});
                check.check("bmm ta=" + ta + " tb=" + tb, x -> BlasOps.matmul(x[0], x[1], ta, tb), a, b);
                Tensor shared = param(be, tb ? new int[]{n, k} : new int[]{k, n});
                check.check("matmul shared b ta=" + ta + " tb=" + tb, x -> BlasOps.matmul(x[0], x[1], ta, tb), a, shared);
            }
    }

    @Test
    void largeMatmulSplitAcrossThreadsMatchesReference() {
        int m = 130, k = 67, n = 97;
        Tensor a = input(be, m, k), b = input(be, k, n);
        float[] c = BlasOps.matmul(a, b).toFloats(), av = a.toFloats(), bv = b.toFloats();
        for (int i = 0; i < m; i += 7)
            for (int j = 0; j < n; j += 5) {
                double acc = 0;
                for (int q = 0; q < k; q++) acc += (double) av[i * k + q] * bv[q * n + j];
                assertEquals(acc, c[i * n + j], 1e-4);
            }
    }

    @Test
    void linearWithAndWithoutBias() {
        Tensor x = param(be, 2, 3, 5), w = param(be, 4, 5), b = param(be, 4);
        check.check("linear", t -> BlasOps.linear(t[0], t[1], t[2]), x, w, b);
        check.check("linear no bias", t -> BlasOps.linear(t[0], t[1], null), x, w);
    }

    @Test
    void frozenWeightGetsNoGradient() {
        Tensor x = param(be, 3, 5), w = input(be, 4, 5);
        try (var s = dma.engine.Scope.open()) {
            BlasOps.linear(x, w, null).sumAll().backward();
            assertTrue(x.grad() != null);
            assertEquals(null, w.grad());
        }
    }

    @Test
    void broadcastingArithmetic() {
        Tensor a = param(be, 3, 1, 5), b = param(be, 4, 1), c = param(be, 5);
        check.check("add", t -> t[0].add(t[1]), a, b);
        check.check("sub", t -> t[0].sub(t[1]), a, c);
        check.check("mul", t -> t[0].mul(t[1]), a, b);
        Tensor pos = dma.engine.Scope.persistent(() -> Tensor.uniform(be, 4, 1f, 2f, 4, 1).requiresGrad(true));
        check.check("div", t -> t[0].div(t[1]), a, pos);
        check.check("scale", t -> t[0].scale(-2.5f), a);
    }

    @Test
    void broadcastErrorNamesBothShapes() {
        Tensor a = input(be, 3, 4), b = input(be, 5);
        var e = assertThrows(IllegalArgumentException.class, () -> a.add(b));
        assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("[5]") && e.getMessage().startsWith("add"), e.getMessage());
        var m = assertThrows(IllegalArgumentException.class, () -> a.matmul(a));
        assertTrue(m.getMessage().contains("matmul") && m.getMessage().contains("4 vs 3"), m.getMessage());
    }

    @Test
    void activations() {
        Tensor x = param(be, 4, 9);
        check.check("gelu", t -> ElementwiseOps.gelu(t[0]), x);
        check.check("relu", t -> ElementwiseOps.relu(t[0]), x);
    }

    @Test
    void geluMatchesErfDefinition() {
        float[] xs = {-3f, -1f, -0.5f, 0f, 0.3f, 1f, 2.5f};
        Tensor x = Tensor.of(be, xs, xs.length);
        float[] y = ElementwiseOps.gelu(x).toFloats();
        // reference values of 0.5·x·(1 + erf(x/√2)) computed in float64
        double[] ref = {-0.004049694095, -0.158655253931, -0.154268769363, 0.0, 0.185373426657, 0.841344746069, 2.484475836686};
        for (int i = 0; i < xs.length; i++) assertEquals(ref[i], y[i], 2e-6, "gelu(" + xs[i] + ")");
    }

    @Test
    void dropoutAndDropPath() {
        Tensor x = param(be, 6, 10);
        check.check("dropout", t -> ElementwiseOps.dropout(t[0], 0.3f, 42), x);
        check.check("dropPath", t -> ElementwiseOps.dropPath(t[0], 0.4f, 43), x);
        float[] y = ElementwiseOps.dropPath(x, 0.5f, 7).toFloats(), xv = x.toFloats();
        int dropped = 0;
        for (int r = 0; r < 6; r++) {
            boolean zero = y[r * 10] == 0f;
            if (zero) dropped++;
            for (int j = 0; j < 10; j++) assertEquals(zero ? 0f : 2f * xv[r * 10 + j], y[r * 10 + j], 1e-6, "rows are kept or dropped whole");
        }
        assertTrue(dropped > 0 && dropped < 6, "p=0.5 over 6 rows drops some, not all: " + dropped);
    }

    @Test
    void shapeOps() {
        Tensor x = param(be, 2, 3, 4);
        check.check("reshape", t -> t[0].reshape(4, -1).scale(1f), x);
        check.check("permute", t -> t[0].permute(2, 0, 1), x);
        check.check("transpose", t -> LayoutOps.transpose(t[0], 0, 2), x);
        check.check("slice", t -> LayoutOps.slice(t[0], 1, 1, 2), x);
        Tensor y = param(be, 2, 1, 4);
        check.check("concat", t -> LayoutOps.concat(1, t[0], t[1]), x, y);
    }

    @Test
    void reductionsAndSoftmax() {
        Tensor x = param(be, 3, 4, 5);
        check.check("sum axis 1", t -> t[0].sum(1), x);
        check.check("sum axes 0,2", t -> t[0].sum(0, 2), x);
        check.check("mean last", t -> t[0].mean(-1), x);
        check.check("mean 1,2", t -> t[0].mean(1, 2), x);
        check.check("sumAll", t -> t[0].sumAll(), x);
        check.check("softmax", t -> ReductionsOps.softmax(t[0]), x);
    }

    /** Sums over a long middle axis (a linear's bias gradient: [rows, out] over rows) against float64 sums, element by element. */
    @Test
    void sumsOverManyRowsMatchDoubleSums() {
        for (int[] shape : new int[][]{{1, 1088, 64}, {3, 1001, 37}}) {
            int outer = shape[0], rows = shape[1], cols = shape[2];
            Tensor x = input(be, shape);
            float[] xv = x.toFloats(), y = x.sum(1).toFloats();
            for (int o = 0; o < outer; o++)
                for (int c = 0; c < cols; c++) {
                    double ref = 0, abs = 0;
                    for (int r = 0; r < rows; r++) {
                        ref += xv[(o * rows + r) * cols + c];
                        abs += Math.abs(xv[(o * rows + r) * cols + c]);
                    }
                    assertEquals(ref, y[o * cols + c], 2e-7 * abs + 1e-6, "sum " + java.util.Arrays.toString(shape) + " at " + o + ", " + c);
                }
        }
    }

    @Test
    void softmaxRowsSumToOne() {
        Tensor x = input(be, 7, 13);
        float[] p = ReductionsOps.softmax(x.scale(30f)).toFloats();
        for (int r = 0; r < 7; r++) {
            double s = 0;
            for (int j = 0; j < 13; j++) s += p[r * 13 + j];
            assertEquals(1.0, s, 1e-5);
        }
    }

    @Test
    void castRoundTripAndGradient() {
        Tensor x = param(be, 3, 5);
        // rounding is a step function, so its gradient is the straight-through identity, not a finite difference
        try (var s = dma.engine.Scope.open()) {
            Tensor r = Tensor.uniform(be, 5, -1f, 1f, 3, 5);
            ElementwiseOps.cast(ElementwiseOps.cast(x, DType.BF16), DType.F32).mul(r).sumAll().backward();
            assertArrayEquals(r.toFloats(), x.grad().toFloats());
            x.zeroGrad();
        }
        float[] v = {1f, 1f + 0x1p-8f, 1f + 0x1p-8f + 0x1p-20f, -0f, Float.NaN, 3.14159f};
        Tensor t = Tensor.of(be, v, v.length);
        float[] back = ElementwiseOps.cast(ElementwiseOps.cast(t, DType.BF16), DType.F32).toFloats();
        assertArrayEquals(new float[]{1f, 1f, 1f + 0x1p-7f, -0f, Float.NaN, 3.140625f}, back);
    }
}
