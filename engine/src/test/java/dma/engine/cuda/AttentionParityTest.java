package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import static dma.engine.cuda.LayoutConvParityTest.cpu;
import static dma.engine.cuda.LayoutConvParityTest.gpu;

/**
 * Attention over [bh, t, d] on CUDA against the CPU reference: the forward's output and saved probabilities; then
 * the gradients, all three and each alone (the others null), accumulated onto the same random starting values on
 * both devices.
 */
class AttentionParityTest {
    /** Tokens of a single row, a warp's rows cut short, the Fashion-MNIST ViT (50), ViT-S/16 at 224² (197), 257; head sizes 16, 64, 80. */
    @Test
    void forwardMatchesCpu() {
        Parity p = Parity.cuda();
        int[] bhs = {1, 3, 7};
        int case_ = 0;
        for (int t : new int[]{1, 7, 50, 197, 257})
            for (int d : new int[]{16, 64, 80}) {
                int bh = bhs[case_++ % bhs.length], n = bh * t * d, tt = bh * t * t;
                float scale = (float) (1 / Math.sqrt(d));
                String what = bh + "×" + t + "×" + d;
                Storage[] q = p.pair(Parity.random(n, -2f, 2f)), k = p.pair(Parity.random(n, -2f, 2f)), v = p.pair(Parity.random(n));
                Storage[] out = p.output(n), probs = p.output(tt);
                p.cpu.attention().attention(q[0], 0, k[0], 0, v[0], 0, out[0], probs[0], bh, t, d, scale);
                p.gpu.attention().attention(q[1], 0, k[1], 0, v[1], 0, out[1], probs[1], bh, t, d, scale);
                p.assertClose(probs, tt, Parity.F32, "attention probs " + what);
                p.assertClose(out, n, Parity.F32, "attention out " + what);
                Parity.free(q, k, v, out, probs);
            }
    }

    @Test
    void attentionForwardAndBackwardMatchCpu() {
        Parity p = Parity.cuda();
        // bh, t, d: a ViT head at 28×28 / patch 4 (t = 50), odd sizes, a single token, rows of several warps, d = 1,
        // long rows (t = 257), a wide head (d = 129)
        int[][] shapes = {{6, 50, 64}, {3, 17, 5}, {1, 1, 3}, {4, 197, 33}, {2, 65, 1}, {2, 257, 16}, {3, 20, 129}};
        for (int[] shape : shapes) {
            int bh = shape[0], t = shape[1], d = shape[2], n = bh * t * d, tt = bh * t * t;
            float scale = (float) (1 / Math.sqrt(d));
            String what = bh + "×" + t + "×" + d;
            Storage[] q = p.pair(Parity.random(n, -2f, 2f)), k = p.pair(Parity.random(n, -2f, 2f)), v = p.pair(Parity.random(n));
            Storage[] out = p.output(n), probs = p.output(tt);
            p.cpu.attention().attention(q[0], 0, k[0], 0, v[0], 0, out[0], probs[0], bh, t, d, scale);
            p.gpu.attention().attention(q[1], 0, k[1], 0, v[1], 0, out[1], probs[1], bh, t, d, scale);
            p.assertClose(probs, tt, Parity.F32, "attention probs " + what);
            p.assertClose(out, n, Parity.F32, "attention out " + what);
            Storage[] gradOut = p.pair(Parity.random(n));
            for (int mask : new int[]{7, 1, 2, 4}) {
                Storage[] gq = (mask & 1) != 0 ? p.accumulator(n) : null, gk = (mask & 2) != 0 ? p.accumulator(n) : null,
                        gv = (mask & 4) != 0 ? p.accumulator(n) : null;
                p.cpu.attention().attentionBackward(q[0], 0, k[0], 0, v[0], 0, probs[0], gradOut[0], cpu(gq), cpu(gk), cpu(gv), bh, t, d, scale);
                p.gpu.attention().attentionBackward(q[1], 0, k[1], 0, v[1], 0, probs[1], gradOut[1], gpu(gq), gpu(gk), gpu(gv), bh, t, d, scale);
                if (gq != null) p.assertClose(gq, n, Parity.F32, "attention gradQ " + what + " mask " + mask);
                if (gk != null) p.assertClose(gk, n, Parity.F32, "attention gradK " + what + " mask " + mask);
                if (gv != null) p.assertClose(gv, n, Parity.F32, "attention gradV " + what + " mask " + mask);
                for (Storage[] s : new Storage[][]{gq, gk, gv}) if (s != null) Parity.free(s);
            }
            Parity.free(q, k, v, out, probs, gradOut);
        }
    }

    /** q, k and v as the three parts of one storage (offsets 0, n, 2n), forward and all three gradients into one storage. */
    @Test
    void packedOffsetsMatchCpu() {
        Parity p = Parity.cuda();
        for (int[] shape : new int[][]{{6, 50, 64}, {3, 17, 5}}) {
            int bh = shape[0], t = shape[1], d = shape[2], n = bh * t * d, tt = bh * t * t;
            float scale = (float) (1 / Math.sqrt(d));
            String what = "packed " + bh + "×" + t + "×" + d;
            Storage[] qkv = p.pair(Parity.random(3 * n, -2f, 2f)), out = p.output(n), probs = p.output(tt);
            p.cpu.attention().attention(qkv[0], 0, qkv[0], n, qkv[0], 2 * n, out[0], probs[0], bh, t, d, scale);
            p.gpu.attention().attention(qkv[1], 0, qkv[1], n, qkv[1], 2 * n, out[1], probs[1], bh, t, d, scale);
            p.assertClose(out, n, Parity.F32, "attention out " + what);
            Storage[] gradOut = p.pair(Parity.random(n)), grad = p.accumulator(3 * n);
            p.cpu.attention().attentionBackward(qkv[0], 0, qkv[0], n, qkv[0], 2 * n, probs[0], gradOut[0], grad[0], grad[0], grad[0], bh, t, d, scale);
            p.gpu.attention().attentionBackward(qkv[1], 0, qkv[1], n, qkv[1], 2 * n, probs[1], gradOut[1], grad[1], grad[1], grad[1], bh, t, d, scale);
            p.assertClose(grad, 3 * n, Parity.F32, "attention gradients " + what);
            Parity.free(qkv, out, probs, gradOut, grad);
        }
    }

    @Test
    void softmaxKernelsMatchCpuRows() {
        Parity p = Parity.cuda();
        CudaAttention attention = (CudaAttention) p.gpu.attention();
        int[][] sizes = {{6 * 197, 197}, {3, 5}, {40, 33}, {7, 1}};
        for (int[] size : sizes) {
            int rows = size[0], cols = size[1], n = rows * cols;
            String what = rows + "×" + cols;
            float[] scores = Parity.random(n, -8f, 8f);
            Storage[] probs = p.pair(scores), scoresCpu = p.pair(scores);
            p.cpu.reductions().softmax(scoresCpu[0], probs[0], rows, cols);
            attention.softmaxRows(probs[1], rows, cols);
            p.assertClose(probs, n, Parity.F32, "softmax rows " + what);
            // backward in place on the GPU; the CPU accumulates into zeros, then its result takes the gradient's place
            Storage[] grad = p.pair(Parity.random(n));
            Storage gradInCpu = p.cpu.allocate(4L * n);
            p.cpu.upload(new float[n], gradInCpu, 0);
            p.cpu.reductions().softmaxBackward(probs[0], grad[0], gradInCpu, rows, cols);
            attention.softmaxBackwardRows(probs[1], grad[1], rows, cols);
            p.cpu.upload(Parity.read(p.cpu, gradInCpu, n), grad[0], 0);
            p.assertClose(grad, n, Parity.F32, "softmax backward rows " + what);
            Parity.free(probs, scoresCpu, grad, new Storage[]{gradInCpu});
        }
    }
}
