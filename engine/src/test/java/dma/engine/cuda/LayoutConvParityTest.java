package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

/** Permute, block copies, im2col/col2im and the depthwise convolution on CUDA against the CPU reference. */
class LayoutConvParityTest {
    @Test
    void permuteMatchesCpuWithAndWithoutAccumulating() {
        Parity p = Parity.cuda();
        int[][] shapes = {{2, 5, 3, 4, 7}, {2, 5, 3, 4, 7}, {2, 5, 3, 4, 7}, {37, 3, 19}, {65, 71}, {2, 1, 3, 1, 5, 2, 3}, {8, 197, 3, 6, 64}};
        int[][] perms = {{2, 0, 3, 1, 4}, {4, 3, 2, 1, 0}, {0, 1, 2, 3, 4}, {2, 0, 1}, {1, 0}, {6, 0, 5, 2, 4, 1, 3}, {2, 0, 3, 1, 4}};
        for (int k = 0; k < shapes.length; k++)
            for (boolean accumulate : new boolean[]{false, true}) {
                int n = Arrays.stream(shapes[k]).reduce(1, (a, b) -> a * b);
                Storage[] x = p.pair(Parity.random(n)), y = accumulate ? p.accumulator(n) : p.output(n);
                p.cpu.layout().permute(x[0], shapes[k], perms[k], y[0], accumulate);
                p.gpu.layout().permute(x[1], shapes[k], perms[k], y[1], accumulate);
                p.assertClose(y, n, Parity.F32, "permute " + Arrays.toString(shapes[k]) + " by " + Arrays.toString(perms[k]) + " accumulate=" + accumulate);
                Parity.free(x, y);
            }
    }

    @Test
    void copyBlocksMatchesCpuStridedAndBroadcast() {
        Parity p = Parity.cuda();
        for (boolean accumulate : new boolean[]{false, true}) {
            Storage[] src = p.pair(Parity.random(300)), dst = p.accumulator(500); // strided: untouched gaps must stay
            p.cpu.layout().copyBlocks(src[0], 7, 30, dst[0], 3, 50, 13, 9, accumulate);
            p.gpu.layout().copyBlocks(src[1], 7, 30, dst[1], 3, 50, 13, 9, accumulate);
            p.assertClose(dst, 500, Parity.F32, "copyBlocks strided accumulate=" + accumulate);
            int rows = 1001, cols = 13;
            Storage[] bias = p.pair(Parity.random(cols)), out = accumulate ? p.accumulator(rows * cols) : p.output(rows * cols);
            p.cpu.layout().copyBlocks(bias[0], 0, 0, out[0], 0, cols, cols, rows, accumulate);
            p.gpu.layout().copyBlocks(bias[1], 0, 0, out[1], 0, cols, cols, rows, accumulate);
            p.assertClose(out, rows * cols, Parity.F32, "copyBlocks broadcast accumulate=" + accumulate);
            Parity.free(src, dst, bias, out);
        }
    }

    @Test
    void im2colAndCol2imMatchCpu() {
        Parity p = Parity.cuda();
        // n, c, h, w, k, stride, pad
        int[][] convs = {{2, 3, 9, 11, 3, 2, 1}, {3, 1, 28, 28, 4, 4, 0}, {2, 5, 7, 6, 1, 1, 0}, {1, 2, 10, 9, 5, 3, 2},
                {4, 3, 33, 30, 3, 1, 1}, {8, 16, 32, 32, 3, 1, 1}};
        for (int[] cv : convs) {
            int n = cv[0], c = cv[1], h = cv[2], w = cv[3], k = cv[4], s = cv[5], pad = cv[6];
            int oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
            int images = n * c * h * w, cols = c * k * k * n * oh * ow;
            String what = Arrays.toString(cv);
            // one image in front of the batch: the offsets must be honoured, the image before them left alone
            int off = c * h * w;
            Storage[] x = p.pair(Parity.random(off + images)), col = p.output(cols);
            p.cpu.layout().im2col(x[0], off, n, c, h, w, k, k, s, pad, oh, ow, col[0]);
            p.gpu.layout().im2col(x[1], off, n, c, h, w, k, k, s, pad, oh, ow, col[1]);
            p.assertClose(col, cols, Parity.F32, "im2col " + what);
            Storage[] gradCols = p.pair(Parity.random(cols)), gradIn = p.accumulator(off + images);
            p.cpu.layout().col2im(gradCols[0], n, c, h, w, k, k, s, pad, oh, ow, gradIn[0], off);
            p.gpu.layout().col2im(gradCols[1], n, c, h, w, k, k, s, pad, oh, ow, gradIn[1], off);
            p.assertClose(gradIn, off + images, Parity.F32, "col2im " + what);
            Parity.free(x, col, gradCols, gradIn);
        }
    }

    @Test
    void depthwiseConvolutionAndItsGradientsMatchCpu() {
        Parity p = Parity.cuda();
        // n, c, h, w, kh, kw, strideH, strideW, padH, padW: ConvNeXt's 7×7 (stride 1, pad 3), strided, unpadded,
        // rectangular, and a kernel larger than the image
        int[][] configs = {{2, 13, 11, 9, 7, 7, 1, 1, 3, 3}, {2, 13, 11, 9, 7, 7, 2, 2, 3, 3}, {2, 5, 11, 9, 7, 7, 2, 2, 0, 0},
                {2, 3, 56, 56, 3, 3, 1, 1, 1, 1}, {3, 4, 10, 13, 3, 5, 1, 2, 1, 2}, {1, 2, 3, 3, 7, 7, 1, 1, 3, 3},
                {16, 96, 14, 14, 7, 7, 1, 1, 3, 3}};
        for (int[] cf : configs) {
            int n = cf[0], c = cf[1], h = cf[2], w = cf[3], kh = cf[4], kw = cf[5], sh = cf[6], sw = cf[7], ph = cf[8], pw = cf[9];
            int oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
            int in = n * c * h * w, out = n * c * oh * ow, taps = c * kh * kw;
            String what = Arrays.toString(cf);
            Storage[] x = p.pair(Parity.random(in)), weight = p.pair(Parity.random(taps)), bias = p.pair(Parity.random(c));
            for (boolean withBias : new boolean[]{true, false}) {
                Storage[] y = p.output(out);
                p.cpu.convolution().depthwiseConv2d(x[0], weight[0], withBias ? bias[0] : null, y[0], n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
                p.gpu.convolution().depthwiseConv2d(x[1], weight[1], withBias ? bias[1] : null, y[1], n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
                p.assertClose(y, out, Parity.F32, "depthwise forward " + what + " bias=" + withBias);
                Parity.free(y);
            }
            Storage[] gradOut = p.pair(Parity.random(out));
            // all three gradients, then each alone (the others skipped)
            for (int mask : new int[]{7, 1, 2, 4}) {
                Storage[] gi = (mask & 1) != 0 ? p.accumulator(in) : null, gw = (mask & 2) != 0 ? p.accumulator(taps) : null,
                        gb = (mask & 4) != 0 ? p.accumulator(c) : null;
                p.cpu.convolution().depthwiseConv2dBackward(gradOut[0], x[0], weight[0], cpu(gi), cpu(gw), cpu(gb),
                        n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
                p.gpu.convolution().depthwiseConv2dBackward(gradOut[1], x[1], weight[1], gpu(gi), gpu(gw), gpu(gb),
                        n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
                if (gi != null) p.assertClose(gi, in, Parity.F32, "depthwise gradIn " + what + " mask " + mask);
                if (gw != null) p.assertClose(gw, taps, Parity.F32, "depthwise gradWeight " + what + " mask " + mask);
                if (gb != null) p.assertClose(gb, c, Parity.F32, "depthwise gradBias " + what + " mask " + mask);
                for (Storage[] s : new Storage[][]{gi, gw, gb}) if (s != null) Parity.free(s);
            }
            Parity.free(x, weight, bias, gradOut);
        }
    }

    static Storage cpu(Storage[] pair) {
        return pair == null ? null : pair[0];
    }

    static Storage gpu(Storage[] pair) {
        return pair == null ? null : pair[1];
    }
}
