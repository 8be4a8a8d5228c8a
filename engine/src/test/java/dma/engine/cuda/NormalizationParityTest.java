package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import static dma.engine.cuda.LayoutConvParityTest.cpu;
import static dma.engine.cuda.LayoutConvParityTest.gpu;

/**
 * LayerNorm, LayerNorm over channels and BatchNorm2d (train, eval, both backward forms) on CUDA against the CPU
 * reference. Inputs have a non-zero mean (as activations do) so that the two-pass statistics matter; each side's
 * backward uses its own forward's saved mean and rstd; gradients start from the same random values (+= contract)
 * and each is also checked alone, the others skipped.
 */
class NormalizationParityTest {
    @Test
    void layerNormForwardAndBackwardMatchCpu() {
        Parity p = Parity.cuda();
        // rows × cols: a ViT row width, short and long rows, a single row, many tiny rows (several row chunks)
        int[][] sizes = {{197, 77}, {5, 384}, {33, 1000}, {1, 3}, {4100, 7}, {64 * 65, 192}};
        for (int[] size : sizes) {
            int rows = size[0], cols = size[1], n = rows * cols;
            String what = rows + "×" + cols;
            Storage[] x = p.pair(Parity.random(n, 1f, 3f)), w = p.pair(Parity.random(cols)), b = p.pair(Parity.random(cols));
            Storage[] y = p.output(n), mean = p.output(rows), rstd = p.output(rows);
            p.cpu.normalization().layerNorm(x[0], w[0], b[0], y[0], mean[0], rstd[0], rows, cols, 1e-6f);
            p.gpu.normalization().layerNorm(x[1], w[1], b[1], y[1], mean[1], rstd[1], rows, cols, 1e-6f);
            p.assertClose(y, n, Parity.F32, "layerNorm out " + what);
            p.assertClose(mean, rows, Parity.F32, "layerNorm mean " + what);
            p.assertClose(rstd, rows, Parity.F32, "layerNorm rstd " + what);
            Storage[] gradOut = p.pair(Parity.random(n));
            for (int mask : new int[]{7, 1, 2, 4}) {
                Storage[] gi = (mask & 1) != 0 ? p.accumulator(n) : null, gw = (mask & 2) != 0 ? p.accumulator(cols) : null,
                        gb = (mask & 4) != 0 ? p.accumulator(cols) : null;
                p.cpu.normalization().layerNormBackward(gradOut[0], x[0], w[0], mean[0], rstd[0], cpu(gi), cpu(gw), cpu(gb), rows, cols);
                p.gpu.normalization().layerNormBackward(gradOut[1], x[1], w[1], mean[1], rstd[1], gpu(gi), gpu(gw), gpu(gb), rows, cols);
                if (gi != null) p.assertClose(gi, n, Parity.F32, "layerNorm gradIn " + what + " mask " + mask);
                if (gw != null) p.assertClose(gw, cols, Parity.F32, "layerNorm gradWeight " + what + " mask " + mask);
                if (gb != null) p.assertClose(gb, cols, Parity.F32, "layerNorm gradBias " + what + " mask " + mask);
                for (Storage[] s : new Storage[][]{gi, gw, gb}) if (s != null) Parity.free(s);
            }
            Parity.free(x, w, b, y, mean, rstd, gradOut);
        }
    }

    @Test
    void layerNormOverChannelsMatchesCpu() {
        Parity p = Parity.cuda();
        // n, c, hw: ConvNeXt-like maps, a long plane (several position chunks), one channel, many images of few positions
        int[][] sizes = {{3, 37, 49}, {2, 5, 3000}, {1, 1, 7}, {64, 6, 9}, {4, 96, 196}};
        for (int[] size : sizes) {
            int n = size[0], c = size[1], hw = size[2], total = n * c * hw, positions = n * hw;
            String what = n + "×" + c + "×" + hw;
            Storage[] x = p.pair(Parity.random(total, -2f, 4f)), w = p.pair(Parity.random(c)), b = p.pair(Parity.random(c));
            Storage[] y = p.output(total), mean = p.output(positions), rstd = p.output(positions);
            p.cpu.normalization().layerNormChannels(x[0], w[0], b[0], y[0], mean[0], rstd[0], n, c, hw, 1e-6f);
            p.gpu.normalization().layerNormChannels(x[1], w[1], b[1], y[1], mean[1], rstd[1], n, c, hw, 1e-6f);
            p.assertClose(y, total, Parity.F32, "layerNormChannels out " + what);
            p.assertClose(mean, positions, Parity.F32, "layerNormChannels mean " + what);
            p.assertClose(rstd, positions, Parity.F32, "layerNormChannels rstd " + what);
            Storage[] gradOut = p.pair(Parity.random(total));
            for (int mask : new int[]{7, 1, 2, 4}) {
                Storage[] gi = (mask & 1) != 0 ? p.accumulator(total) : null, gw = (mask & 2) != 0 ? p.accumulator(c) : null,
                        gb = (mask & 4) != 0 ? p.accumulator(c) : null;
                p.cpu.normalization().layerNormChannelsBackward(gradOut[0], x[0], w[0], mean[0], rstd[0], cpu(gi), cpu(gw), cpu(gb), n, c, hw);
                p.gpu.normalization().layerNormChannelsBackward(gradOut[1], x[1], w[1], mean[1], rstd[1], gpu(gi), gpu(gw), gpu(gb), n, c, hw);
                if (gi != null) p.assertClose(gi, total, Parity.F32, "layerNormChannels gradIn " + what + " mask " + mask);
                if (gw != null) p.assertClose(gw, c, Parity.F32, "layerNormChannels gradWeight " + what + " mask " + mask);
                if (gb != null) p.assertClose(gb, c, Parity.F32, "layerNormChannels gradBias " + what + " mask " + mask);
                for (Storage[] s : new Storage[][]{gi, gw, gb}) if (s != null) Parity.free(s);
            }
            Parity.free(x, w, b, y, mean, rstd, gradOut);
        }
    }

    @Test
    void batchNormTrainEvalAndBackwardMatchCpu() {
        Parity p = Parity.cuda();
        // n, c, hw: several chunks per channel, a single element per channel (running variance keeps the biased one),
        // odd sizes, a CIFAR ResNet layer
        int[][] sizes = {{5, 19, 1000}, {1, 3, 1}, {7, 4, 33}, {2, 2, 5000}, {32, 16, 1024}};
        for (int[] size : sizes) {
            int n = size[0], c = size[1], hw = size[2], total = n * c * hw;
            Storage[] x = p.pair(Parity.random(total, 0.5f, 2.5f)), w = p.pair(Parity.random(c)), b = p.pair(Parity.random(c));
            Storage[] runningMean = p.pair(Parity.random(c)), runningVar = p.pair(Parity.random(c, 0.5f, 1.5f));
            Storage[] gradOut = p.pair(Parity.random(total));
            // plain, and with the fused epilogue relu(bn(x) + residual): the residual centred so that the ReLU cuts about half
            Storage[] residual = p.pair(Parity.random(total, -1f, 1f));
            for (boolean fused : new boolean[]{false, true}) {
                Storage[] res = fused ? residual : null;
                String what = n + "×" + c + "×" + hw + (fused ? " fused residual+relu" : "");
                Storage[] y = p.output(total), mean = p.output(c), rstd = p.output(c);
                p.cpu.normalization().batchNormTrain(x[0], w[0], b[0], y[0], mean[0], rstd[0], runningMean[0], runningVar[0], n, c, hw,
                        1e-5f, 0.1f, cpu(res), fused);
                p.gpu.normalization().batchNormTrain(x[1], w[1], b[1], y[1], mean[1], rstd[1], runningMean[1], runningVar[1], n, c, hw,
                        1e-5f, 0.1f, gpu(res), fused);
                p.assertClose(y, total, Parity.F32, "batchNormTrain out " + what);
                p.assertClose(mean, c, Parity.F32, "batchNormTrain mean " + what);
                p.assertClose(rstd, c, Parity.F32, "batchNormTrain rstd " + what);
                p.assertClose(runningMean, c, Parity.F32, "batchNormTrain running mean " + what);
                p.assertClose(runningVar, c, Parity.F32, "batchNormTrain running var " + what);

                Storage[] yEval = p.output(total);
                p.cpu.normalization().batchNormEval(x[0], w[0], b[0], runningMean[0], runningVar[0], yEval[0], n, c, hw, 1e-5f, cpu(res), fused);
                p.gpu.normalization().batchNormEval(x[1], w[1], b[1], runningMean[1], runningVar[1], yEval[1], n, c, hw, 1e-5f, gpu(res), fused);
                p.assertClose(yEval, total, Parity.F32, "batchNormEval out " + what);

                Storage[] reluOut = fused ? y : null;
                for (boolean training : new boolean[]{true, false})
                    for (int mask : new int[]{7, 1, 2, 4}) {
                        Storage[] gi = (mask & 1) != 0 ? p.accumulator(total) : null, gw = (mask & 2) != 0 ? p.accumulator(c) : null,
                                gb = (mask & 4) != 0 ? p.accumulator(c) : null, gr = fused && mask == 7 ? p.accumulator(total) : null;
                        p.cpu.normalization().batchNormBackward(gradOut[0], x[0], w[0], mean[0], rstd[0], cpu(gi), cpu(gw), cpu(gb), n, c, hw,
                                training, cpu(reluOut), cpu(gr), false, false);
                        p.gpu.normalization().batchNormBackward(gradOut[1], x[1], w[1], mean[1], rstd[1], gpu(gi), gpu(gw), gpu(gb), n, c, hw,
                                training, gpu(reluOut), gpu(gr), false, false);
                        String how = what + " training=" + training + " mask " + mask;
                        if (gi != null) p.assertClose(gi, total, Parity.F32, "batchNormBackward gradIn " + how);
                        if (gw != null) p.assertClose(gw, c, Parity.F32, "batchNormBackward gradWeight " + how);
                        if (gb != null) p.assertClose(gb, c, Parity.F32, "batchNormBackward gradBias " + how);
                        if (gr != null) p.assertClose(gr, total, Parity.F32, "batchNormBackward gradResidual " + how);
                        for (Storage[] s : new Storage[][]{gi, gw, gb, gr}) if (s != null) Parity.free(s);
                    }
                Parity.free(y, mean, rstd, yEval);
            }
            Parity.free(x, w, b, runningMean, runningVar, gradOut, residual);
        }
    }
}
