package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.List;

import static dma.engine.cuda.KernelBuildTest.buf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every method of the elementwise, reductions and losses families driven through a dry-run backend (no GPU): each
 * launch is checked against the compiled kernel's PTX signature, grid and block limits and shared memory, and the
 * host-side planning (which kernel a layout gets, how reductions are sliced) is checked by the kernels it chose.
 */
class ElementwiseDryRunTest {
    private KernelBuildTest.Recorder recorder;
    private CudaBackend be;

    @BeforeEach
    void dryRun() throws Exception {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("dma/kernels/signatures.txt")) {
            org.junit.jupiter.api.Assumptions.assumeTrue(in != null, "kernels not built here (no nvcc when the kernels module was built)");
        }
        recorder = new KernelBuildTest.Recorder();
        be = CudaBackend.dryRun(recorder);
    }

    private List<String> launched() {
        List<String> l = List.copyOf(recorder.launched);
        recorder.launched.clear();
        return l;
    }

    private Storage f(int n) {
        return buf(be, n);
    }

    // ---------------------------------------------------------------- elementwise

    @Test
    void binaryPicksThePeriodicKernelForDenseBiasAndScalarLayouts() {
        var k = be.elementwise();
        for (BinaryOp op : BinaryOp.values()) {
            // same shape
            k.binary(op, f(60), new int[]{20, 1}, f(60), new int[]{20, 1}, f(60), new int[]{3, 20});
            // a row (bias) broadcast along the leading axes, on either side
            k.binary(op, f(120), new int[]{24, 6, 1}, f(6), new int[]{0, 0, 1}, f(120), new int[]{5, 4, 6});
            k.binary(op, f(6), new int[]{0, 0, 1}, f(120), new int[]{24, 6, 1}, f(120), new int[]{5, 4, 6});
            // a scalar, and a rank-0 pair
            k.binary(op, f(7), new int[]{1}, f(1), new int[]{0}, f(7), new int[]{7});
            k.binary(op, f(1), new int[]{}, f(1), new int[]{}, f(1), new int[]{});
        }
        assertEquals(List.of("elementwise.binary_periodic"), launched().stream().distinct().toList());
    }

    @Test
    void binaryPicksTheStridedKernelForOtherLayouts() {
        var k = be.elementwise();
        // a per-channel vector broadcast along batch and space (NCHW), and a channel-major read as Conv does
        k.binary(BinaryOp.ADD, f(2 * 3 * 5), new int[]{15, 5, 1}, f(3), new int[]{0, 1, 0}, f(30), new int[]{2, 3, 5});
        k.binary(BinaryOp.ADD, f(2 * 3 * 5), new int[]{5, 10, 1}, f(3), new int[]{0, 1, 0}, f(30), new int[]{2, 3, 5});
        // both operands broadcast (an outer product) and six separate axes
        k.binary(BinaryOp.MUL, f(4), new int[]{1, 0}, f(5), new int[]{0, 1}, f(20), new int[]{4, 5});
        int[] shape = {2, 3, 2, 3, 2, 3};
        k.binary(BinaryOp.SUB, f(216), new int[]{108, 0, 27, 0, 3, 0}, f(216), new int[]{0, 36, 0, 6, 0, 1}, f(216), shape);
        assertEquals(List.of("elementwise.binary_strided"), launched().stream().distinct().toList());
    }

    @Test
    void binaryRejectsMoreThanSixAxesWithAMessage() {
        int[] shape = {2, 2, 2, 2, 2, 2, 2};
        int[] a = {64, 0, 16, 0, 4, 0, 1}, b = {0, 8, 0, 4, 0, 2, 0};
        var e = assertThrows(IllegalArgumentException.class,
                () -> be.elementwise().binary(BinaryOp.ADD, f(128), a, f(16), b, f(128), shape));
        assertTrue(e.getMessage().contains("7 axes") && e.getMessage().contains("6"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> be.elementwise().binary(BinaryOp.ADD, f(6), new int[]{1}, f(6), new int[]{3, 1}, f(6), new int[]{2, 3}));
    }

    @Test
    void axesMergeWhereBothStrideSetsAllowAndFindPeriods() {
        var ax = CudaElementwise.Axes.merge(new int[]{4, 1, 5, 6}, new int[]{30, 30, 6, 1}, new int[]{0, 0, 6, 1});
        assertArrayEquals(new int[]{4, 30}, ax.size);
        assertArrayEquals(new int[]{30, 1}, ax.s1);
        assertArrayEquals(new int[]{0, 1}, ax.s2);
        assertEquals(120, ax.period(ax.s1));
        assertEquals(30, ax.period(ax.s2));
        var bias = CudaElementwise.Axes.merge(new int[]{2, 3, 5}, new int[]{15, 5, 1}, new int[]{0, 1, 0});
        assertEquals(3, bias.rank());
        assertEquals(-1, bias.period(bias.s2));
        var scalar = CudaElementwise.Axes.merge(new int[]{3, 4}, new int[]{4, 1}, new int[]{0, 0});
        assertEquals(1, scalar.period(scalar.s2));
    }

    @Test
    void reduceBroadcastUsesAxpyTheSumKernelsOrTheGeneralKernel() {
        var k = be.elementwise();
        // no broadcast: a residual's gradient
        k.reduceBroadcast(f(60), new int[]{3, 20}, f(60), new int[]{20, 1}, 1f);
        assertEquals(List.of("elementwise.axpy"), launched());
        // a bias: leading axes reduced (many rows, few columns: split and finished)
        k.reduceBroadcast(f(5000 * 10), new int[]{50, 100, 10}, f(10), new int[]{0, 0, 1}, 1f);
        assertEquals(List.of("reductions.sum_cols", "reductions.sum_finish"), launched());
        // a middle axis reduced ([B, 1, C] against [B, T, C]) and trailing axes reduced ([B, 1] against [B, T])
        k.reduceBroadcast(f(4 * 7 * 9), new int[]{4, 7, 9}, f(36), new int[]{9, 0, 1}, -1f);
        k.reduceBroadcast(f(3 * 11), new int[]{3, 11}, f(3), new int[]{1, 0}, 0.5f);
        // everything into a scalar
        k.reduceBroadcast(f(33), new int[]{3, 11}, f(1), new int[]{0, 0}, 1f);
        assertEquals(List.of("reductions.sum_cols", "reductions.sum_rows", "reductions.sum_rows"), launched());
        // a per-channel vector of NCHW: reduced axes on both sides of the kept one
        k.reduceBroadcast(f(2 * 3 * 5), new int[]{2, 3, 5}, f(3), new int[]{0, 1, 0}, 1f);
        // three reduced groups interleaved with kept ones
        k.reduceBroadcast(f(64), new int[]{2, 2, 2, 2, 2, 2}, f(8), new int[]{0, 4, 0, 2, 0, 1}, 1f);
        assertEquals(List.of("elementwise.reduce_broadcast", "elementwise.reduce_broadcast"), launched());
        // a null gradient is skipped
        k.reduceBroadcast(f(6), new int[]{6}, null, new int[]{1}, 1f);
        assertEquals(List.of(), launched());
    }

    @Test
    void reduceBroadcastRejectsMoreThanThreeGroupsOfEitherKind() {
        int[] shape = {2, 2, 2, 2, 2, 2, 2, 2};
        int[] dst = {0, 8, 0, 4, 0, 2, 0, 1};
        var e = assertThrows(IllegalArgumentException.class,
                () -> be.elementwise().reduceBroadcast(f(256), shape, f(16), dst, 1f));
        assertTrue(e.getMessage().contains("more than 3"), e.getMessage());
    }

    @Test
    void pointwiseMethodsLaunchTheirKernels() {
        var k = be.elementwise();
        int n = 1001;
        for (Activation a : Activation.values()) {
            k.activation(a, f(n), f(n), n);
            k.activationBackward(a, f(n), f(n), f(n), n);
            k.activationBackward(a, f(n), f(n), null, n);
        }
        Storage x = f(n);
        k.scale(x, x, 0.5f, n);
        k.axpy(2f, f(n), f(n), n);
        k.axpy(2f, f(n), null, n);
        k.fill(f(n + 5), 5, n, 3f);
        k.dropout(f(n), f(n), n, 0.1f, 42L);
        k.dropoutBackward(f(n), f(n), n, 0.1f, 42L);
        k.dropoutBackward(f(n), null, n, 0.1f, 42L);
        k.dropPath(f(n), f(n), 7, 143, 0.2f, 7L);
        k.dropPath(f(70_000 * 2), f(70_000 * 2), 70_000, 2, 0.2f, 7L); // more rows than a grid's y
        k.dropPathBackward(f(n), f(n), 7, 143, 0.2f, 7L);
        k.dropPathBackward(f(n), null, 7, 143, 0.2f, 7L);
        Storage half = be.allocate(2L * n);
        k.castToBf16(f(n), half, n);
        k.castToF32(half, f(n), n);
        k.randomUniform(f(n), n, 1L, -1f, 1f);
        k.randomNormal(f(n), n, 1L, 0f, 1f, -2f, 2f);
        assertEquals(List.of(
                "elementwise.activation_forward", "elementwise.activation_backward",
                "elementwise.activation_forward", "elementwise.activation_backward",
                "elementwise.scale", "elementwise.axpy", "elementwise.fill",
                "elementwise.dropout", "elementwise.dropout_backward",
                "elementwise.drop_path", "elementwise.drop_path", "elementwise.drop_path_backward",
                "elementwise.cast_to_bf16", "elementwise.cast_to_f32",
                "elementwise.random_uniform", "elementwise.random_normal"), launched());
    }

    @Test
    void scaleChannelsAndItsBackwardInBothLayouts() {
        var k = be.elementwise();
        // channels-first (NCHW) and channels-last (NHWC)
        k.scaleChannels(f(2 * 3 * 49), f(3), f(2 * 3 * 49), 2, 3, 49);
        k.scaleChannels(f(98 * 3), f(3), f(98 * 3), 98, 3, 1);
        assertEquals(List.of("elementwise.scale_channels", "elementwise.scale_channels"), launched());
        // few channels over many rows: sliced, then finished
        k.scaleChannelsBackward(f(4096 * 96), f(4096 * 96), f(96), f(4096 * 96), f(96), 4096, 96, 1);
        assertEquals(List.of("elementwise.scale_channels", "elementwise.scale_channels_grad_cols",
                "elementwise.scale_channels_grad_finish"), launched());
        k.scaleChannelsBackward(f(64 * 96 * 3136), f(64 * 96 * 3136), f(96), null, f(96), 64, 96, 3136);
        assertEquals(List.of("elementwise.scale_channels_grad_rows", "elementwise.scale_channels_grad_finish"), launched());
        // enough channels to fill the GPU unsliced
        k.scaleChannelsBackward(f(2 * 2048), f(2 * 2048), f(2048), null, f(2048), 1, 2048, 2);
        k.scaleChannelsBackward(f(3 * 40_000), f(3 * 40_000), f(40_000), null, f(40_000), 3, 40_000, 1);
        assertEquals(List.of("elementwise.scale_channels_grad_rows", "elementwise.scale_channels_grad_cols"), launched());
        k.scaleChannelsBackward(f(6), f(6), f(3), f(6), null, 2, 3, 1);
        k.scaleChannelsBackward(f(6), f(6), f(3), null, null, 2, 3, 1);
        assertEquals(List.of("elementwise.scale_channels"), launched());
    }

    // ---------------------------------------------------------------- reductions

    @Test
    void sumPicksRowsOrColumnsAndSlicesLongReductions() {
        var r = be.reductions();
        r.sum(f(5 * 7), f(5), 5, 7, 1, 1f, false);                    // short rows
        r.sum(f(3 * 11 * 40), f(120), 3, 11, 40, 0.5f, true);         // columns
        r.sum(f(5000 * 8), f(5000 * 8), 5000, 1, 8, 1f, false);       // many outputs, nothing to slice
        assertEquals(List.of("reductions.sum_rows", "reductions.sum_cols", "reductions.sum_cols"), launched());
        r.sum(f(1_000_000), f(1), 1, 1_000_000, 1, 1f, true);        // one long row
        r.sum(f(12_608 * 10), f(10), 1, 12_608, 10, 1f, true);       // a head's bias gradient
        assertEquals(List.of("reductions.sum_rows", "reductions.sum_finish", "reductions.sum_cols", "reductions.sum_finish"),
                launched());
        r.sum(f(10), null, 1, 10, 1, 1f, false);
        r.sum(f(1), f(4), 4, 0, 1, 1f, false);                        // an empty reduction writes zeros
        assertEquals(List.of("reductions.sum_rows"), launched());
    }

    @Test
    void expandSoftmaxAndSumOfSquares() {
        var r = be.reductions();
        r.expand(f(6), f(6 * 7), 2, 7, 3, 0.25f);
        r.expand(f(6), null, 2, 7, 3, 0.25f);
        r.softmax(f(10 * 197), f(10 * 197), 10, 197);
        r.softmax(f(3 * 5000), f(3 * 5000), 3, 5000);
        r.softmaxBackward(f(10 * 197), f(10 * 197), f(10 * 197), 10, 197);
        r.softmaxBackward(f(3 * 5000), f(3 * 5000), f(3 * 5000), 3, 5000);
        r.softmaxBackward(f(3), f(3), null, 1, 3);
        assertEquals(0.0, r.sumOfSquares(f(100_003), 100_003)); // a dry run downloads zeros
        assertEquals(0.0, r.sumOfSquares(f(0), 0));
        assertEquals(List.of("reductions.expand", "reductions.softmax_warp", "reductions.softmax_block",
                "reductions.softmax_backward_warp", "reductions.softmax_backward_block",
                "reductions.sum_squares_partial", "reductions.sum_squares_finish",
                "reductions.sum_squares_partial", "reductions.sum_squares_finish"), launched());
    }

    // ---------------------------------------------------------------- losses

    @Test
    void lossesLaunchTheirKernels() {
        var l = be.losses();
        l.crossEntropy(f(37 * 10), f(37 * 10), 0.1f, f(37), f(37 * 10), 37, 10);
        l.crossEntropyBackward(f(37 * 10), f(37 * 10), 0.1f, f(1), 1f / 37, f(37 * 10), 37, 10);
        l.crossEntropyBackward(f(37 * 10), f(37 * 10), 0.1f, f(1), 1f / 37, null, 37, 10);
        l.l1(f(100_001), f(100_001), f(1), 100_001);
        l.l1Backward(f(9), f(9), f(1), f(9), null, 9);
        l.l1Backward(f(9), f(9), f(1), null, f(9), 9);
        l.l1Backward(f(9), f(9), f(1), null, null, 9);
        assertEquals(List.of("losses.cross_entropy", "losses.cross_entropy_backward", "losses.l1_partial", "losses.l1_finish",
                "losses.l1_backward", "losses.l1_backward"), launched());
    }
}
