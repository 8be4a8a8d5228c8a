package dma.engine.cpu;

import dma.engine.Storage;

/** Placeholder: kernels not written yet. */
final class CpuAttention implements dma.engine.kernels.Attention {
    @Override public void attention(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale) { throw new UnsupportedOperationException("cpu attention"); }
    @Override public void attentionBackward(Storage q, Storage k, Storage v, Storage probs, Storage gradOut, Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) { throw new UnsupportedOperationException("cpu attentionBackward"); }
}
