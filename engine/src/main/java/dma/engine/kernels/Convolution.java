package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Convolutions that are not one GEMM: the depthwise convolution of ConvNeXt (groups = channels). The dense
 * conv2d is im2col ({@link Layout#im2col}) + a {@link Blas} GEMM and needs no kernel of its own.
 */
public interface Convolution {
    /**
     * Depthwise cross-correlation (PyTorch's Conv2d with groups = channels) of in [n, c, h, w] with weight
     * [c, kh, kw] (PyTorch stores it as [c, 1, kh, kw]: the same memory) plus bias [c] (null: none), zero padding
     * {@code padH}/{@code padW}, stride {@code strideH}/{@code strideW}. Writes out [n, c, oh, ow] with
     * oh = (h + 2·padH − kh)/strideH + 1 and ow likewise.
     */
    void depthwiseConv2d(Storage in, Storage weight, Storage bias, Storage out, int n, int c, int h, int w,
                         int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow);

    /**
     * Backward of {@link #depthwiseConv2d}, accumulating: gradIn [n, c, h, w] += the transposed convolution of
     * gradOut with the weight; gradWeight [c, kh, kw] += Σ over images and output positions of gradOut·in;
     * gradBias [c] += Σ gradOut. Any gradient may be null (skipped).
     */
    void depthwiseConv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, Storage gradWeight, Storage gradBias,
                                 int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow);
}
