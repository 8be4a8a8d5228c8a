package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;

import static dma.engine.cuda.KernelBuildTest.buf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every method of the layout, normalization and convolution families driven through a dry-run backend (no GPU):
 * each launch must name a compiled kernel with arguments of its types and a legal grid, and the expected kernels
 * must be launched (gradients given as null skip their kernels). Attention's kernels are AttentionDryRunTest's.
 */
class LayoutNormDryRunTest {
    private KernelBuildTest.Recorder recorder;
    private CudaBackend be;

    @BeforeEach
    void dryRun() throws IOException {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("dma/kernels/signatures.txt")) {
            Assumptions.assumeTrue(in != null, "kernels not built here (no nvcc when the kernels module was built)");
        }
        recorder = new KernelBuildTest.Recorder();
        be = CudaBackend.dryRun(recorder);
    }

    private Storage b(long floats) {
        return buf(be, Math.toIntExact(floats));
    }

    private void expect(String... kernels) {
        assertEquals(List.of(kernels), recorder.launched);
        recorder.launched.clear();
    }

    @Test
    void layout() {
        int[] shape = {2, 5, 3, 4, 7};
        be.layout().permute(b(840), shape, new int[]{2, 0, 3, 1, 4}, b(840), false);
        be.layout().permute(b(840), shape, new int[]{4, 3, 2, 1, 0}, b(840), true);
        be.layout().permute(b(840), shape, new int[]{0, 1, 2, 3, 4}, b(840), false); // merges into one axis
        be.layout().permute(b(840), shape, new int[]{4, 3, 2, 1, 0}, null, true);    // a skipped gradient
        be.layout().copyBlocks(b(300), 7, 30, b(500), 3, 50, 13, 9, false);
        be.layout().copyBlocks(b(13), 0, 0, b(500), 0, 13, 13, 9, true);
        be.layout().im2col(b(3 * 3 * 9 * 11), 3 * 9 * 11, 2, 3, 9, 11, 3, 3, 2, 1, 5, 6, b(3 * 9 * 2 * 30));
        be.layout().col2im(b(3 * 9 * 2 * 30), 2, 3, 9, 11, 3, 3, 2, 1, 5, 6, b(3 * 3 * 9 * 11), 3 * 9 * 11);
        be.layout().col2im(b(3 * 9 * 2 * 30), 2, 3, 9, 11, 3, 3, 2, 1, 5, 6, null, 0);
        expect("layout.permute", "layout.permute", "layout.permute", "layout.copy_blocks", "layout.copy_blocks",
                "layout.im2col", "layout.col2im");
    }

    @Test
    void permuteOfMoreThanSixUnmergeableAxesIsRefusedByName() {
        int[] shape = {2, 2, 2, 2, 2, 2, 2};
        var e = assertThrows(IllegalArgumentException.class,
                () -> be.layout().permute(b(128), shape, new int[]{6, 5, 4, 3, 2, 1, 0}, b(128), false));
        assertTrue(e.getMessage().contains("at most 6"), e.getMessage());
        // seven axes that merge down to fewer are fine
        be.layout().permute(b(128), shape, new int[]{1, 0, 2, 3, 4, 5, 6}, b(128), false);
        expect("layout.permute");
    }

    @Test
    void layerNorm() {
        int rows = 197, cols = 77;
        long size = (long) rows * cols;
        be.normalization().layerNorm(b(size), b(cols), b(cols), b(size), b(rows), b(rows), rows, cols, 1e-6f);
        be.normalization().layerNormBackward(b(size), b(size), b(cols), b(rows), b(rows), b(size), b(cols), b(cols), rows, cols);
        be.normalization().layerNormBackward(b(size), b(size), b(cols), b(rows), b(rows), null, b(cols), null, rows, cols);
        be.normalization().layerNormBackward(b(size), b(size), b(cols), b(rows), b(rows), b(size), null, null, rows, cols);
        be.normalization().layerNormBackward(b(size), b(size), b(cols), b(rows), b(rows), null, null, null, rows, cols);
        expect("normalization.layernorm_forward",
                "normalization.layernorm_backward_input", "normalization.layernorm_param_partials", "normalization.add_partials",
                "normalization.layernorm_param_partials", "normalization.add_partials",
                "normalization.layernorm_backward_input");
    }

    @Test
    void layerNormChannels() {
        int n = 3, c = 37, hw = 49;
        long size = (long) n * c * hw, positions = (long) n * hw;
        be.normalization().layerNormChannels(b(size), b(c), b(c), b(size), b(positions), b(positions), n, c, hw, 1e-6f);
        be.normalization().layerNormChannelsBackward(b(size), b(size), b(c), b(positions), b(positions), b(size), b(c), b(c), n, c, hw);
        be.normalization().layerNormChannelsBackward(b(size), b(size), b(c), b(positions), b(positions), null, null, b(c), n, c, hw);
        be.normalization().layerNormChannelsBackward(b(size), b(size), b(c), b(positions), b(positions), b(size), null, null, n, c, hw);
        expect("normalization.layernorm_channels_forward",
                "normalization.layernorm_channels_backward_input", "normalization.channel_grad_partials", "normalization.add_partials",
                "normalization.channel_grad_partials", "normalization.add_partials",
                "normalization.layernorm_channels_backward_input");
    }

    @Test
    void batchNorm() {
        int n = 5, c = 19, hw = 1000; // 5000 elements per channel: several chunks
        long size = (long) n * c * hw;
        be.normalization().batchNormTrain(b(size), b(c), b(c), b(size), b(c), b(c), b(c), b(c), n, c, hw, 1e-5f, 0.1f, null, false);
        be.normalization().batchNormTrain(b(size), b(c), b(c), b(size), b(c), b(c), null, null, n, c, hw, 1e-5f, 0.1f, b(size), true);
        be.normalization().batchNormEval(b(size), b(c), b(c), b(c), b(c), b(size), n, c, hw, 1e-5f, b(size), true);
        for (boolean training : new boolean[]{true, false})
            be.normalization().batchNormBackward(b(size), b(size), b(c), b(c), b(c), b(size), b(c), b(c), n, c, hw, training, null, null, false, false);
        be.normalization().batchNormBackward(b(size), b(size), b(c), b(c), b(c), b(size), null, null, n, c, hw, false, b(size), null, false, false);
        be.normalization().batchNormBackward(b(size), b(size), b(c), b(c), b(c), b(size), null, null, n, c, hw, true, b(size), b(size), false, false);
        be.normalization().batchNormBackward(b(size), b(size), b(c), b(c), b(c), null, null, null, n, c, hw, true, null, null, false, false);
        String[] train = {"normalization.channel_sum_partials", "normalization.channel_sq_partials", "normalization.batchnorm_stats",
                "normalization.batchnorm_apply"};
        String[] backward = {"normalization.channel_grad_partials", "normalization.add_partials",
                "normalization.batchnorm_backward_input"};
        expect(concat(train, train, new String[]{"normalization.batchnorm_eval_apply"}, backward, backward,
                new String[]{"normalization.batchnorm_backward_input"}, backward));
    }

    @Test
    void depthwiseConvolution() {
        int n = 2, c = 13, h = 11, w = 9, k = 7;
        int[][] strideAndPad = {{1, 3}, {2, 3}, {2, 0}};
        for (int[] sp : strideAndPad) {
            int s = sp[0], p = sp[1], oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
            long in = (long) n * c * h * w, out = (long) n * c * oh * ow;
            be.convolution().depthwiseConv2d(b(in), b(c * k * k), b(c), b(out), n, c, h, w, k, k, s, s, p, p, oh, ow);
            be.convolution().depthwiseConv2d(b(in), b(c * k * k), null, b(out), n, c, h, w, k, k, s, s, p, p, oh, ow);
            be.convolution().depthwiseConv2dBackward(b(out), b(in), b(c * k * k), b(in), b(c * k * k), b(c), n, c, h, w, k, k, s, s, p, p, oh, ow);
            be.convolution().depthwiseConv2dBackward(b(out), b(in), b(c * k * k), null, null, b(c), n, c, h, w, k, k, s, s, p, p, oh, ow);
            be.convolution().depthwiseConv2dBackward(b(out), b(in), b(c * k * k), b(in), null, null, n, c, h, w, k, k, s, s, p, p, oh, ow);
            expect("convolution.depthwise_forward", "convolution.depthwise_forward",
                    "convolution.depthwise_backward_input", "convolution.depthwise_param_partials", "convolution.depthwise_param_sums",
                    "convolution.depthwise_param_partials", "convolution.depthwise_param_sums",
                    "convolution.depthwise_backward_input");
        }
    }

    private static String[] concat(String[]... parts) {
        return java.util.Arrays.stream(parts).flatMap(java.util.Arrays::stream).toArray(String[]::new);
    }
}
