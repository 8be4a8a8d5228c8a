package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Attention;

/** Placeholder until the attention kernels land. */
final class CudaAttention implements Attention {
    private final CudaBackend backend;

    CudaAttention(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void attention(Storage q, Storage k, Storage v, Storage out, Storage probs, int bh, int t, int d, float scale) {
        throw new UnsupportedOperationException("cuda: attention.attention is not implemented yet");
    }

    @Override
    public void attentionBackward(Storage q, Storage k, Storage v, Storage probs, Storage gradOut, Storage gradQ, Storage gradK, Storage gradV, int bh, int t, int d, float scale) {
        throw new UnsupportedOperationException("cuda: attention.attentionBackward is not implemented yet");
    }

}
