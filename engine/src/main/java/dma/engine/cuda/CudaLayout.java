package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Layout;

/** Placeholder until the layout kernels land. */
final class CudaLayout implements Layout {
    private final CudaBackend backend;

    CudaLayout(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void permute(Storage in, int[] shape, int[] perm, Storage out, boolean accumulate) {
        throw new UnsupportedOperationException("cuda: layout.permute is not implemented yet");
    }

    @Override
    public void copyBlocks(Storage src, int srcOff, int srcStride, Storage dst, int dstOff, int dstStride, int blockLen, int blocks, boolean accumulate) {
        throw new UnsupportedOperationException("cuda: layout.copyBlocks is not implemented yet");
    }

    @Override
    public void im2col(Storage in, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage cols) {
        throw new UnsupportedOperationException("cuda: layout.im2col is not implemented yet");
    }

    @Override
    public void col2im(Storage gradCols, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage gradIn) {
        throw new UnsupportedOperationException("cuda: layout.col2im is not implemented yet");
    }

}
