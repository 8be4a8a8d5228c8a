package dma.engine.kernels;

import dma.engine.Storage;

/**
 * Convolutions that are not one GEMM: the depthwise convolution of ConvNeXt (groups = channels), and a dense stride-1
 * conv2d computed directly where a backend has one ({@link #hasDirectConv2d}). Every other dense conv2d is im2col
 * ({@link Layout#im2col}) + a {@link Blas} GEMM and needs no kernel of its own.
 */
public interface Convolution {
    /**
     * Whether {@link #conv2d} and {@link #conv2dBackward} handle a kh×kw kernel at this stride and padding. The CPU's
     * does at stride 1 (ResNet's 3×3 convolutions: im2col would write every activation kh·kw times); the CUDA backend's
     * GEMMs are fast enough that it keeps im2col.
     */
    default boolean hasDirectConv2d(int kh, int kw, int stride, int pad) {
        return false;
    }

    /**
     * Dense cross-correlation at stride 1 of in [n, c, h, w] with weight [o, c, kh, kw], zero padding {@code pad} on
     * both axes: writes out [n, o, h + 2·pad − kh + 1, w + 2·pad − kw + 1]. Only where {@link #hasDirectConv2d}.
     */
    default void conv2d(Storage in, Storage weight, Storage out, int n, int c, int h, int w, int o, int kh, int kw, int pad) {
        throw new UnsupportedOperationException("this backend has no direct conv2d: use im2col + GEMM (see hasDirectConv2d)");
    }

    /**
     * Backward of {@link #conv2d}: gradIn [n, c, h, w] += the transposed convolution of gradOut (= when
     * {@code overwriteGradIn}: gradIn holds no values yet), gradWeight [o, c, kh, kw] += Σ over images and positions of
     * gradOut·in. Either may be null (skipped).
     */
    default void conv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, boolean overwriteGradIn, Storage gradWeight,
                                int n, int c, int h, int w, int o, int kh, int kw, int pad) {
        throw new UnsupportedOperationException("this backend has no direct conv2d: use im2col + GEMM (see hasDirectConv2d)");
    }

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
