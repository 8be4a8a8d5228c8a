package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Layout;

import java.util.Arrays;

import static dma.engine.cuda.CudaBackend.ptr;

/** Permutes, strided block copies, im2col and col2im (kernels/src/main/cuda/layout.cu), one output element per thread. */
final class CudaLayout implements Layout {
    private static final String MODULE = "layout";
    private static final int BLOCK = 256;
    /** Axes the permute kernel takes, after merging the output axes that stay contiguous in the input. */
    static final int MAX_PERMUTE_AXES = 6;

    private final CudaBackend backend;

    CudaLayout(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void permute(Storage in, int[] shape, int[] perm, Storage out, boolean accumulate) {
        if (out == null) return;
        int r = shape.length;
        long[] inStrides = new long[r];
        long total = 1;
        for (int i = r - 1; i >= 0; i--) {
            inStrides[i] = total;
            total *= shape[i];
        }
        if (total == 0) return;
        // Output axes in order, size-1 axes dropped, an axis merged into the one before it when the pair is also
        // contiguous in the input: [b, t, 3, h, d] → [3, b, h, t, d] keeps d with nothing to merge, a plain reshape
        // becomes one axis.
        int[] sizes = new int[r], strides = new int[r];
        int axes = 0;
        for (int i = 0; i < r; i++) {
            int size = shape[perm[i]];
            long stride = inStrides[perm[i]];
            if (size == 1) continue;
            if (axes > 0 && strides[axes - 1] == stride * size) {
                sizes[axes - 1] *= size;
                strides[axes - 1] = (int) stride;
            } else {
                sizes[axes] = size;
                strides[axes++] = (int) stride;
            }
        }
        if (axes > MAX_PERMUTE_AXES)
            throw new IllegalArgumentException("cuda: permute of shape " + Arrays.toString(shape) + " by " + Arrays.toString(perm)
                    + " needs " + axes + " axes after merging, the kernel takes at most " + MAX_PERMUTE_AXES);
        // right-align into six axes; the unused leading ones have size 1 and stride 0
        int[] s = new int[MAX_PERMUTE_AXES], t = new int[MAX_PERMUTE_AXES];
        Arrays.fill(s, 1);
        System.arraycopy(sizes, 0, s, MAX_PERMUTE_AXES - axes, axes);
        System.arraycopy(strides, 0, t, MAX_PERMUTE_AXES - axes, axes);
        backend.launch1d(MODULE, "permute", total, BLOCK, ptr(in), ptr(out), (int) total,
                s[0], s[1], s[2], s[3], s[4], s[5], t[0], t[1], t[2], t[3], t[4], t[5], accumulate);
    }

    @Override
    public void copyBlocks(Storage src, int srcOff, int srcStride, Storage dst, int dstOff, int dstStride,
                           int blockLen, int blocks, boolean accumulate) {
        if (dst == null || blockLen == 0 || blocks == 0) return;
        backend.launch1d(MODULE, "copy_blocks", (long) blockLen * blocks, BLOCK,
                ptr(src, srcOff), srcStride, ptr(dst, dstOff), dstStride, blockLen, blocks, accumulate);
    }

    @Override
    public void im2col(Storage in, int inOff, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage cols) {
        long total = (long) c * kh * kw * n * oh * ow;
        if (total == 0) return;
        backend.launch1d(MODULE, "im2col", total, BLOCK, ptr(in, inOff), ptr(cols), n, c, h, w, kh, kw, stride, pad, oh, ow);
    }

    @Override
    public void col2im(Storage gradCols, int n, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow, Storage gradIn, int gradInOff) {
        long total = (long) n * c * h * w;
        if (gradIn == null || total == 0) return;
        backend.launch1d(MODULE, "col2im", total, BLOCK, ptr(gradCols), ptr(gradIn, gradInOff), n, c, h, w, kh, kw, stride, pad, oh, ow);
    }
}
