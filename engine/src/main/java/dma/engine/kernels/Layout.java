package dma.engine.kernels;

import dma.engine.Storage;

/** Data movement: permutes, strided block copies (slice, concat) and im2col for convolution. */
public interface Layout {
    /** out = in.permute(perm) made contiguous; with accumulate, out += that. */
    void permute(Storage in, int[] shape, int[] perm, Storage out, boolean accumulate);

    /** {@code blocks} copies of {@code blockLen} elements from src (stride srcStride) to dst (stride dstStride); accumulate: +=. */
    void copyBlocks(Storage src, int srcOff, int srcStride, Storage dst, int dstOff, int dstStride,
                    int blockLen, int blocks, boolean accumulate);

    /**
     * Unfolds n images [c, h, w] starting at element {@code inOff} of {@code in} into cols of shape [c·kh·kw, n·oh·ow]
     * (row (ci, ki, kj), column (img, oy, ox)), zero outside the padding. Conv2d is then a GEMM: W[o, c·kh·kw] × cols.
     */
    void im2col(Storage in, int inOff, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage cols);

    /** The adjoint of {@link #im2col}: the n images starting at element {@code gradInOff} of gradIn += fold(gradCols). */
    void col2im(Storage gradCols, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage gradIn, int gradInOff);
}
