package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reductions and losses on CUDA against the CPU reference, on shapes that take each kernel path (short and long
 * rows, columns, sliced reductions), sizes that do not fill a block, and run-to-run bit equality of the sums.
 */
class ReductionsLossesParityTest {
    /** [outer, reduced, inner]: rows, columns, both sliced and not, an empty reduction. */
    private static final int[][] SUMS = {
            {5, 7, 1}, {1, 1, 1}, {300, 33, 1}, {1, 100_003, 1}, {3, 50_000, 1},
            {3, 11, 40}, {2, 301, 5}, {1, 12_608, 10}, {5000, 3, 8}, {2, 1000, 97}, {4, 0, 3},
    };

    @Test
    void sumMatchesCpuWithAlphaAndAccumulation() {
        Parity p = Parity.cuda();
        for (int[] s : SUMS)
            for (boolean accumulate : new boolean[]{false, true}) {
                int outer = s[0], reduced = s[1], inner = s[2], n = outer * reduced * inner, m = outer * inner;
                Storage[] in = p.pair(Parity.random(Math.max(n, 1)));
                Storage[] out = accumulate ? p.accumulator(m) : p.output(m);
                p.cpu.reductions().sum(in[0], out[0], outer, reduced, inner, 0.37f, accumulate);
                p.gpu.reductions().sum(in[1], out[1], outer, reduced, inner, 0.37f, accumulate);
                p.assertClose(out, m, Parity.F32, "sum " + Arrays.toString(s) + " accumulate=" + accumulate);
                Parity.free(in, out);
            }
    }

    @Test
    void sumGivesTheSameBitsOnEveryRun() {
        Parity p = Parity.cuda();
        for (int[] s : new int[][]{{1, 100_003, 1}, {1, 12_608, 10}, {300, 33, 1}}) {
            int outer = s[0], reduced = s[1], inner = s[2], m = outer * inner;
            Storage[] in = p.pair(Parity.random(outer * reduced * inner));
            float[][] runs = new float[2][];
            for (int run = 0; run < 2; run++) {
                Storage out = p.gpu.allocate(4L * m);
                p.gpu.reductions().sum(in[1], out, outer, reduced, inner, 1f, false);
                runs[run] = Parity.read(p.gpu, out, m);
                p.gpu.free(out);
            }
            assertArrayEquals(runs[0], runs[1], "sum " + Arrays.toString(s));
            Parity.free(in);
        }
    }

    @Test
    void expandMatchesCpu() {
        Parity p = Parity.cuda();
        for (int[] s : SUMS) {
            int outer = s[0], reduced = s[1], inner = s[2], n = outer * reduced * inner, m = outer * inner;
            Storage[] g = p.pair(Parity.random(m)), gi = p.accumulator(Math.max(n, 1));
            p.cpu.reductions().expand(g[0], gi[0], outer, reduced, inner, -0.5f);
            p.gpu.reductions().expand(g[1], gi[1], outer, reduced, inner, -0.5f);
            p.assertClose(gi, Math.max(n, 1), Parity.F32, "expand " + Arrays.toString(s));
            Parity.free(g, gi);
        }
    }

    @Test
    void softmaxAndBackwardMatchCpuOnShortAndLongRows() {
        Parity p = Parity.cuda();
        for (int[] s : new int[][]{{1, 1}, {7, 3}, {300, 197}, {33, 1024}, {5, 1025}, {3, 20_000}}) {
            int rows = s[0], cols = s[1], n = rows * cols;
            Storage[] x = p.pair(Parity.random(n, -8f, 8f)), y = p.output(n);
            p.cpu.reductions().softmax(x[0], y[0], rows, cols);
            p.gpu.reductions().softmax(x[1], y[1], rows, cols);
            p.assertClose(y, n, Parity.F32, "softmax " + Arrays.toString(s));
            Storage[] g = p.pair(Parity.random(n)), gi = p.accumulator(n);
            p.cpu.reductions().softmaxBackward(y[0], g[0], gi[0], rows, cols);
            p.gpu.reductions().softmaxBackward(y[1], g[1], gi[1], rows, cols);
            p.assertClose(gi, n, Parity.F32, "softmax backward " + Arrays.toString(s));
            Parity.free(x, y, g, gi);
        }
    }

    @Test
    void sumOfSquaresMatchesCpuInDoubleAndRepeats() {
        Parity p = Parity.cuda();
        for (int n : new int[]{0, 1, 255, 8193, 1_000_003}) {
            Storage[] x = p.pair(Parity.random(Math.max(n, 1)));
            double want = p.cpu.reductions().sumOfSquares(x[0], n), got = p.gpu.reductions().sumOfSquares(x[1], n);
            assertEquals(want, got, 1e-12 * Math.max(want, 1e-30), "sumOfSquares n=" + n);
            assertEquals(Double.doubleToLongBits(got), Double.doubleToLongBits(p.gpu.reductions().sumOfSquares(x[1], n)),
                    "sumOfSquares run to run n=" + n);
            Parity.free(x);
        }
    }

    // ---------------------------------------------------------------- losses

    @Test
    void crossEntropyMatchesCpuWithAndWithoutSmoothing() {
        Parity p = Parity.cuda();
        for (int[] s : new int[][]{{1, 2}, {37, 10}, {300, 33}, {8, 1000}, {3, 5003}})
            for (float smoothing : new float[]{0f, 0.1f}) {
                int rows = s[0], classes = s[1], n = rows * classes;
                float[] t = new float[n];
                float[] mix = Parity.random(rows, 0f, 1f);
                for (int r = 0; r < rows; r++) {
                    // soft targets: a mix of two classes (as mixup makes)
                    t[r * classes + r % classes] += mix[r];
                    t[r * classes + (r * 7 + 1) % classes] += 1f - mix[r];
                }
                Storage[] logits = p.pair(Parity.random(n, -6f, 6f)), targets = p.pair(t);
                Storage[] loss = p.output(rows), probs = p.output(n);
                p.cpu.losses().crossEntropy(logits[0], targets[0], smoothing, loss[0], probs[0], rows, classes);
                p.gpu.losses().crossEntropy(logits[1], targets[1], smoothing, loss[1], probs[1], rows, classes);
                String what = "crossEntropy " + Arrays.toString(s) + " smoothing=" + smoothing;
                p.assertClose(loss, rows, Parity.F32, what + " loss");
                p.assertClose(probs, n, Parity.F32, what + " probs");
                Storage[] gradLoss = p.pair(new float[]{1.7f}), grad = p.accumulator(n);
                p.cpu.losses().crossEntropyBackward(probs[0], targets[0], smoothing, gradLoss[0], 1f / rows, grad[0], rows, classes);
                p.gpu.losses().crossEntropyBackward(probs[1], targets[1], smoothing, gradLoss[1], 1f / rows, grad[1], rows, classes);
                p.assertClose(grad, n, Parity.F32, what + " backward");
                Parity.free(logits, targets, loss, probs, gradLoss, grad);
            }
    }

    @Test
    void l1AndBackwardMatchCpuIncludingEqualInputs() {
        Parity p = Parity.cuda();
        for (int n : new int[]{1, 255, 8193, 1_000_003}) {
            float[] a = Parity.random(n), b = Parity.random(n);
            for (int i = 0; i < n; i += 3) b[i] = a[i]; // sign(0) = 0: no gradient there
            Storage[] A = p.pair(a), B = p.pair(b), loss = p.output(1);
            p.cpu.losses().l1(A[0], B[0], loss[0], n);
            p.gpu.losses().l1(A[1], B[1], loss[1], n);
            p.assertClose(loss, 1, Parity.F32, "l1 n=" + n);
            float first = Parity.read(p.gpu, loss[1], 1)[0];
            p.gpu.losses().l1(A[1], B[1], loss[1], n);
            assertEquals(Float.floatToIntBits(first), Float.floatToIntBits(Parity.read(p.gpu, loss[1], 1)[0]), "l1 run to run n=" + n);
            Storage[] g = p.pair(new float[]{0.8f}), ga = p.accumulator(n), gb = p.accumulator(n);
            p.cpu.losses().l1Backward(A[0], B[0], g[0], ga[0], gb[0], n);
            p.gpu.losses().l1Backward(A[1], B[1], g[1], ga[1], gb[1], n);
            p.assertClose(ga, n, Parity.F32, "l1 backward gradA n=" + n);
            p.assertClose(gb, n, Parity.F32, "l1 backward gradB n=" + n);
            // either gradient alone
            p.cpu.losses().l1Backward(A[0], B[0], g[0], null, gb[0], n);
            p.gpu.losses().l1Backward(A[1], B[1], g[1], null, gb[1], n);
            p.cpu.losses().l1Backward(A[0], B[0], g[0], ga[0], null, n);
            p.gpu.losses().l1Backward(A[1], B[1], g[1], ga[1], null, n);
            p.assertClose(ga, n, Parity.F32, "l1 backward gradA alone n=" + n);
            p.assertClose(gb, n, Parity.F32, "l1 backward gradB alone n=" + n);
            Parity.free(A, B, loss, g, ga, gb);
        }
    }

    @Test
    void l1GradientIsZeroExactlyWhereTheInputsAreEqual() {
        Parity p = Parity.cuda();
        float[] a = {1f, -2f, 0f, -0f, 3f}, b = {1f, -2f, -0f, 0f, 2f};
        Storage[] A = p.pair(a), B = p.pair(b), g = p.pair(new float[]{1f}), ga = p.pair(new float[5]);
        p.gpu.losses().l1Backward(A[1], B[1], g[1], ga[1], null, 5);
        float[] got = Parity.read(p.gpu, ga[1], 5);
        for (int i = 0; i < 4; i++) assertEquals(0f, got[i], 0f, "element " + i + " of " + Arrays.toString(got));
        assertTrue(got[4] == 0.2f, Arrays.toString(got));
        Parity.free(A, B, g, ga);
    }
}
