package dma.engine.cuda;

import dma.engine.Backend;
import dma.engine.Storage;
import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;
import dma.engine.ops.Shapes;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The elementwise family on CUDA against the CPU reference: broadcasting layouts that take each kernel path, sizes
 * that do not fill a block, and exact equality where the CPU's bits are the contract (dropout and drop-path masks,
 * casts, random numbers).
 */
class ElementwiseParityTest {
    /** Pairs of operand shapes: same shape, a bias either side, a scalar, a middle axis, NCHW channels, an outer product, 6 axes. */
    private static final int[][][] BROADCASTS = {
            {{3, 257}, {3, 257}},
            {{37, 5, 19}, {19}},
            {{19}, {37, 5, 19}},
            {{1}, {1001}},
            {{1001}, {1}},
            {{4, 1, 9}, {4, 7, 9}},
            {{2, 3, 5, 7}, {1, 3, 1, 1}},
            {{13, 1}, {1, 17}},
            {{2, 1, 3, 1, 2, 3}, {1, 3, 1, 2, 1, 3}},
    };

    private static int numel(int[] shape) {
        return Shapes.product(shape, 0, shape.length);
    }

    /** Exact equality (NaN equal to NaN) over the first n floats. */
    static void assertSameBits(Parity p, Storage[] s, int n, String what) {
        assertSameBits(Parity.read(p.cpu, s[0], n), Parity.read(p.gpu, s[1], n), what + " (expected: cpu, got: cuda)");
    }

    static void assertSameBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++)
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i]))
                fail(what + ": element " + i + " of " + want.length + " is " + got[i] + ", expected " + want[i]);
    }

    @Test
    void binaryMatchesCpuOnEveryBroadcastLayout() {
        Parity p = Parity.cuda();
        for (int[][] shapes : BROADCASTS)
            for (BinaryOp op : BinaryOp.values()) {
                int[] shape = Shapes.broadcast("test", shapes[0], shapes[1]);
                int n = numel(shape);
                Storage[] a = p.pair(Parity.random(numel(shapes[0])));
                // divisors kept away from 0
                Storage[] b = p.pair(op == BinaryOp.DIV ? Parity.random(numel(shapes[1]), 0.5f, 2f) : Parity.random(numel(shapes[1])));
                Storage[] out = p.output(n);
                int[] as = Shapes.broadcastStrides(shapes[0], shape), bs = Shapes.broadcastStrides(shapes[1], shape);
                p.cpu.elementwise().binary(op, a[0], as, b[0], bs, out[0], shape);
                p.gpu.elementwise().binary(op, a[1], as, b[1], bs, out[1], shape);
                p.assertClose(out, n, Parity.F32, op + " " + Arrays.deepToString(shapes));
                Parity.free(a, b, out);
            }
    }

    @Test
    void binaryReadsPermutedStridesAndRunsInPlace() {
        Parity p = Parity.cuda();
        // Conv's bias add: Y [O, N, S] read as [N, O, S]
        int n = 3, o = 5, s = 37;
        Storage[] y = p.pair(Parity.random(o * n * s)), bias = p.pair(Parity.random(o)), out = p.output(n * o * s);
        int[] shape = {n, o, s}, ys = {s, n * s, 1}, bs = {0, 1, 0};
        p.cpu.elementwise().binary(BinaryOp.ADD, y[0], ys, bias[0], bs, out[0], shape);
        p.gpu.elementwise().binary(BinaryOp.ADD, y[1], ys, bias[1], bs, out[1], shape);
        p.assertClose(out, n * o * s, Parity.F32, "permuted bias add");
        // out == a, as the DIV backward does
        int[] dense = Shapes.contiguousStrides(shape);
        Storage[] b = p.pair(Parity.random(n * o * s, 0.5f, 2f));
        p.cpu.elementwise().binary(BinaryOp.DIV, out[0], dense, b[0], dense, out[0], shape);
        p.gpu.elementwise().binary(BinaryOp.DIV, out[1], dense, b[1], dense, out[1], shape);
        p.assertClose(out, n * o * s, Parity.F32, "in-place divide");
        Parity.free(y, bias, out, b);
    }

    @Test
    void reduceBroadcastMatchesCpuOnEveryLayout() {
        Parity p = Parity.cuda();
        int[][][] cases = {
                {{3, 257}, {3, 257}},          // no broadcast
                {{19}, {37, 5, 19}},           // leading axes
                {{4, 1, 9}, {4, 7, 9}},        // a middle axis
                {{5, 1}, {5, 301}},            // a trailing axis
                {{1}, {1001}},                 // everything
                {{1, 3, 1, 1}, {2, 3, 5, 7}},  // both sides of a kept axis
                {{2, 1, 3, 1, 2, 1}, {2, 3, 3, 2, 2, 3}},
                {{10}, {4000, 10}},            // a head's bias: sliced
                {{1}, {100_003}},              // one long row: sliced
        };
        for (int[][] c : cases) {
            int[] dstShape = c[0], shape = c[1];
            int n = numel(shape), m = numel(dstShape);
            Storage[] src = p.pair(Parity.random(n)), dst = p.accumulator(m);
            int[] ds = Shapes.broadcastStrides(dstShape, shape);
            p.cpu.elementwise().reduceBroadcast(src[0], shape, dst[0], ds, -0.5f);
            p.gpu.elementwise().reduceBroadcast(src[1], shape, dst[1], ds, -0.5f);
            p.assertClose(dst, m, Parity.F32, "reduceBroadcast " + Arrays.deepToString(c));
            // the same inputs give the same bits again
            float[] start = Parity.random(m);
            float[][] runs = new float[2][];
            for (int run = 0; run < 2; run++) {
                p.gpu.upload(start, dst[1], 0);
                p.gpu.elementwise().reduceBroadcast(src[1], shape, dst[1], ds, 1f);
                runs[run] = Parity.read(p.gpu, dst[1], m);
            }
            assertArrayEquals(runs[0], runs[1], "reduceBroadcast run to run " + Arrays.deepToString(c));
            Parity.free(src, dst);
        }
    }

    @Test
    void activationsMatchCpuForwardAndBackward() {
        Parity p = Parity.cuda();
        for (Activation f : Activation.values())
            for (int n : new int[]{1, 255, 4099}) {
                float[] x = Parity.random(n, -5f, 5f);
                x[0] = 0f;
                Storage[] in = p.pair(x), out = p.output(n), g = p.pair(Parity.random(n)), gi = p.accumulator(n);
                p.cpu.elementwise().activation(f, in[0], out[0], n);
                p.gpu.elementwise().activation(f, in[1], out[1], n);
                p.assertClose(out, n, Parity.F32, f + " n=" + n);
                p.cpu.elementwise().activationBackward(f, in[0], g[0], gi[0], n);
                p.gpu.elementwise().activationBackward(f, in[1], g[1], gi[1], n);
                p.assertClose(gi, n, Parity.F32, f + " backward n=" + n);
                Parity.free(in, out, g, gi);
            }
    }

    @Test
    void reluKeepsNaNAndZeroesNegativeZero() {
        Parity p = Parity.cuda();
        float[] x = {Float.NaN, -0f, 0f, -1f, 2f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY};
        Storage[] in = p.pair(x), out = p.output(x.length);
        p.cpu.elementwise().activation(Activation.RELU, in[0], out[0], x.length);
        p.gpu.elementwise().activation(Activation.RELU, in[1], out[1], x.length);
        assertSameBits(p, out, x.length, "relu special values");
        Parity.free(in, out);
    }

    @Test
    void scaleAxpyAndFillMatchCpu() {
        Parity p = Parity.cuda();
        int n = 3001;
        Storage[] x = p.pair(Parity.random(n)), out = p.output(n), y = p.accumulator(n);
        p.cpu.elementwise().scale(x[0], out[0], -1.5f, n);
        p.gpu.elementwise().scale(x[1], out[1], -1.5f, n);
        p.assertClose(out, n, Parity.F32, "scale");
        p.cpu.elementwise().scale(out[0], out[0], 0.25f, n);
        p.gpu.elementwise().scale(out[1], out[1], 0.25f, n);
        p.assertClose(out, n, Parity.F32, "scale in place");
        p.cpu.elementwise().axpy(0.75f, x[0], y[0], n);
        p.gpu.elementwise().axpy(0.75f, x[1], y[1], n);
        p.assertClose(y, n, Parity.F32, "axpy");
        // fill writes exactly its range on each device; the rest keeps each device's own axpy rounding
        // (cuda's fused multiply-add and the CPU's may differ in the last bit)
        for (int d = 0; d < 2; d++) {
            Backend b = d == 0 ? p.cpu : p.gpu;
            float[] want = Parity.read(b, y[d], n);
            Arrays.fill(want, 17, 17 + 999, 3.5f);
            b.elementwise().fill(y[d], 17, 999, 3.5f);
            assertSameBits(want, Parity.read(b, y[d], n), "fill at an offset on " + b.name());
        }
        Parity.free(x, out, y);
    }

    @Test
    void scaleChannelsAndBackwardMatchCpuInBothLayouts() {
        Parity p = Parity.cuda();
        int[][] layouts = {{2, 3, 49}, {98, 3, 1}, {1, 5, 1}, {7, 33, 1}, {4096, 96, 1}, {64, 13, 3136}, {3, 2000, 2}};
        for (int[] l : layouts) {
            int outer = l[0], channels = l[1], inner = l[2], n = outer * channels * inner;
            String what = "scaleChannels " + Arrays.toString(l);
            Storage[] x = p.pair(Parity.random(n)), s = p.pair(Parity.random(channels)), out = p.output(n);
            p.cpu.elementwise().scaleChannels(x[0], s[0], out[0], outer, channels, inner);
            p.gpu.elementwise().scaleChannels(x[1], s[1], out[1], outer, channels, inner);
            p.assertClose(out, n, Parity.F32, what);
            Storage[] g = p.pair(Parity.random(n)), gx = p.accumulator(n), gs = p.accumulator(channels);
            p.cpu.elementwise().scaleChannelsBackward(g[0], x[0], s[0], gx[0], gs[0], outer, channels, inner);
            p.gpu.elementwise().scaleChannelsBackward(g[1], x[1], s[1], gx[1], gs[1], outer, channels, inner);
            p.assertClose(gx, n, Parity.F32, what + " gradIn");
            p.assertClose(gs, channels, Parity.F32, what + " gradScale");
            // either gradient alone
            p.cpu.elementwise().scaleChannelsBackward(g[0], x[0], s[0], null, gs[0], outer, channels, inner);
            p.gpu.elementwise().scaleChannelsBackward(g[1], x[1], s[1], null, gs[1], outer, channels, inner);
            p.cpu.elementwise().scaleChannelsBackward(g[0], x[0], s[0], gx[0], null, outer, channels, inner);
            p.gpu.elementwise().scaleChannelsBackward(g[1], x[1], s[1], gx[1], null, outer, channels, inner);
            p.assertClose(gx, n, Parity.F32, what + " gradIn alone");
            p.assertClose(gs, channels, Parity.F32, what + " gradScale alone");
            Parity.free(x, s, out, g, gx, gs);
        }
    }

    @Test
    void dropoutAndDropPathDropTheSameElementsAsCpu() {
        Parity p = Parity.cuda();
        for (float prob : new float[]{0.1f, 0.5f, 0.9f}) {
            int n = 10_007;
            long seed = 1234 + (long) (prob * 10);
            Storage[] x = p.pair(Parity.random(n)), out = p.output(n), g = p.pair(Parity.random(n));
            p.cpu.elementwise().dropout(x[0], out[0], n, prob, seed);
            p.gpu.elementwise().dropout(x[1], out[1], n, prob, seed);
            assertSameBits(p, out, n, "dropout p=" + prob);
            // from zero, the gradient is g·scale or 0 exactly: the masks must agree bit for bit
            Storage[] gi = p.pair(new float[n]);
            p.cpu.elementwise().dropoutBackward(g[0], gi[0], n, prob, seed);
            p.gpu.elementwise().dropoutBackward(g[1], gi[1], n, prob, seed);
            assertSameBits(p, gi, n, "dropout backward p=" + prob);
            Storage[] acc = p.accumulator(n);
            p.cpu.elementwise().dropoutBackward(g[0], acc[0], n, prob, seed);
            p.gpu.elementwise().dropoutBackward(g[1], acc[1], n, prob, seed);
            p.assertClose(acc, n, Parity.F32, "dropout backward accumulating p=" + prob);
            for (int rows : new int[]{1, 7, 300}) {
                int rowLen = n / rows;
                Storage[] o2 = p.output(rows * rowLen), gi2 = p.pair(new float[rows * rowLen]);
                p.cpu.elementwise().dropPath(x[0], o2[0], rows, rowLen, prob, seed);
                p.gpu.elementwise().dropPath(x[1], o2[1], rows, rowLen, prob, seed);
                assertSameBits(p, o2, rows * rowLen, "dropPath p=" + prob + " rows=" + rows);
                p.cpu.elementwise().dropPathBackward(g[0], gi2[0], rows, rowLen, prob, seed);
                p.gpu.elementwise().dropPathBackward(g[1], gi2[1], rows, rowLen, prob, seed);
                assertSameBits(p, gi2, rows * rowLen, "dropPath backward p=" + prob + " rows=" + rows);
                Parity.free(o2, gi2);
            }
            Parity.free(x, out, g, gi, acc);
        }
    }

    @Test
    void castsRoundTheSameBitsAsCpu() {
        Parity p = Parity.cuda();
        float[] special = {Float.NaN, -Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f,
                Float.MIN_VALUE, Float.MAX_VALUE, 1f + 0x1p-8f, 1f + 0x1p-8f + 0x1p-23f, 1f + 0x3p-8f, -(1f + 0x1p-8f)};
        float[] r = Parity.random(4097, -100f, 100f);
        float[] x = Arrays.copyOf(special, special.length + r.length);
        System.arraycopy(r, 0, x, special.length, r.length);
        int n = x.length;
        Storage[] in = p.pair(x);
        Storage[] half = {p.cpu.allocate(2L * n), p.gpu.allocate(2L * n)};
        p.cpu.elementwise().castToBf16(in[0], half[0], n);
        p.gpu.elementwise().castToBf16(in[1], half[1], n);
        assertArrayEquals(p.cpu.downloadBytes(half[0], 2L * n), p.gpu.downloadBytes(half[1], 2L * n), "castToBf16");
        // back to float: every bf16 pattern of the cast above, exactly
        Storage[] back = p.output(n);
        p.cpu.elementwise().castToF32(half[0], back[0], n);
        p.gpu.elementwise().castToF32(half[1], back[1], n);
        assertSameBits(p, back, n, "castToF32");
        Parity.free(in, half, back);
    }

    @Test
    void randomNumbersAreTheCpuOnes() {
        Parity p = Parity.cuda();
        for (int n : new int[]{1, 1000, 65_537}) {
            Storage[] u = p.output(n);
            p.cpu.elementwise().randomUniform(u[0], n, 99L, -0.3f, 0.7f);
            p.gpu.elementwise().randomUniform(u[1], n, 99L, -0.3f, 0.7f);
            assertSameBits(p, u, n, "randomUniform n=" + n);
            Parity.free(u);
            for (float[] bounds : new float[][]{{Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY}, {-2f, 2f}, {-0.5f, 1f}}) {
                Storage[] z = p.output(n);
                p.cpu.elementwise().randomNormal(z[0], n, 7L, 0.1f, 1f, bounds[0], bounds[1]);
                p.gpu.elementwise().randomNormal(z[1], n, 7L, 0.1f, 1f, bounds[0], bounds[1]);
                assertNormalsMatch(p, z, n, bounds, "randomNormal n=" + n + " bounds " + Arrays.toString(bounds));
                Parity.free(z);
            }
        }
    }

    /**
     * Box–Muller's log and cos are the device's and Java's (each within an ulp of the true value in double), so a
     * float can in rare cases round the other way: at most one ulp apart, never a different draw.
     */
    private static void assertNormalsMatch(Parity p, Storage[] z, int n, float[] bounds, String what) {
        float[] want = Parity.read(p.cpu, z[0], n), got = Parity.read(p.gpu, z[1], n);
        int off = 0;
        for (int i = 0; i < n; i++) {
            assertTrue(got[i] >= bounds[0] && got[i] <= bounds[1], what + ": element " + i + " = " + got[i] + " out of bounds");
            if (got[i] != want[i]) {
                off++;
                assertTrue(Math.abs(got[i] - want[i]) <= Math.ulp(want[i]),
                        what + ": element " + i + " is " + got[i] + " on cuda, " + want[i] + " on cpu");
            }
        }
        assertTrue(off <= 1 + n / 100_000, what + ": " + off + " elements an ulp apart");
    }

    @Test
    void theSameInputsGiveTheSameGradScaleBitsAgain() {
        Parity p = Parity.cuda();
        Backend gpu = p.gpu;
        int outer = 4096, channels = 96, n = outer * channels;
        Storage[] g = p.pair(Parity.random(n)), x = p.pair(Parity.random(n)), s = p.pair(Parity.random(channels));
        float[][] runs = new float[2][];
        for (int run = 0; run < 2; run++) {
            Storage gs = gpu.allocate(4L * channels);
            gpu.zero(gs);
            gpu.elementwise().scaleChannelsBackward(g[1], x[1], s[1], null, gs, outer, channels, 1);
            runs[run] = Parity.read(gpu, gs, channels);
            gpu.free(gs);
        }
        assertArrayEquals(runs[0], runs[1]);
        assertEquals(channels, runs[0].length);
        Parity.free(g, x, s);
    }
}
