package dma.engine.ops;

import dma.engine.Autocast;
import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.kernels.Blas;
import dma.engine.kernels.Elementwise.BinaryOp;
import dma.engine.kernels.Layout;

/** 2-D convolution as im2col + one GEMM, depthwise convolution, and global average pooling. */
public final class Conv {
    private Conv() {}

    /**
     * Cross-correlation (PyTorch's Conv2d) of x [N, C, H, W] with weight [O, C, kh, kw], plus bias [O] (or null),
     * with the same stride and zero padding on both spatial axes. Output [N, O, oh, ow],
     * oh = (H + 2·padding − kh)/stride + 1.
     *
     * <p>With K = C·kh·kw and P = N·oh·ow: cols [K, P] = im2col(x), Y' [O, P] = W·cols, out = Y' with its first
     * two axes swapped (+ bias). The cols buffer is saved for backward only when the weight needs a gradient.
     */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        String op = "conv2d";
        Shapes.requireSameBackend(op, x, weight, bias);
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], got " + x.shapeString());
        if (weight.rank() != 4)
            throw new IllegalArgumentException(op + ": weight must be [O, C, kh, kw], got " + weight.shapeString());
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        int o = weight.dim(0), kh = weight.dim(2), kw = weight.dim(3);
        if (weight.dim(1) != c)
            throw new IllegalArgumentException(op + ": input " + x.shapeString() + " has " + c + " channels but weight "
                    + weight.shapeString() + " expects " + weight.dim(1));
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != o))
            throw new IllegalArgumentException(op + ": bias " + bias.shapeString() + " does not match weight "
                    + weight.shapeString() + " (expects [" + o + "])");
        if (stride < 1 || padding < 0)
            throw new IllegalArgumentException(op + ": stride must be ≥ 1 and padding ≥ 0, got stride " + stride + ", padding " + padding);
        if (h + 2 * padding < kh || w + 2 * padding < kw)
            throw new IllegalArgumentException(op + ": kernel " + kh + "×" + kw + " of weight " + weight.shapeString()
                    + " is larger than input " + x.shapeString() + " with padding " + padding);
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
        int k = c * kh * kw, spatial = oh * ow, p = n * spatial;

        Backend be = x.backend();
        Blas blas = be.blas();
        Layout layout = be.layout();
        Tensor cols = Tensor.empty(be, k, p);
        layout.im2col(x.storage(), n, c, h, w, kh, kw, stride, padding, oh, ow, cols.storage());
        // under autocast the GEMMs read bf16 copies of the weight and of cols (the float32 cols is then not kept)
        boolean mixed = Autocast.isBf16();
        Tensor w16 = mixed ? Linalg.bf16Copy(weight) : null, cols16 = mixed ? Linalg.bf16Copy(cols) : null;
        Tensor out = Tensor.empty(be, n, o, oh, ow);
        try (Tensor y = Tensor.empty(be, o, p)) {
            Linalg.gemm(blas, mixed, false, false, o, p, k, Linalg.operand(weight, w16), 0, k, Linalg.operand(cols, cols16), 0, p,
                    0f, y.storage(), 0, p);
            int[] nos = {n, o, spatial};
            if (bias != null) {
                // one pass does both the axis swap and the bias: read Y' [O, N, S] with strides as [N, O, S]
                be.elementwise().binary(BinaryOp.ADD, y.storage(), new int[]{spatial, p, 1}, bias.storage(), new int[]{0, 1, 0},
                        out.storage(), nos);
            } else {
                layout.permute(y.storage(), new int[]{o, n, spatial}, new int[]{1, 0, 2}, out.storage(), false);
            }
        }
        long work = 2L * o * k * p;
        Flops.add(Flops.Kind.FORWARD, work);
        Tensor[] inputs = {x, weight, bias};
        boolean keepCols = !mixed && Autograd.needsGrad(weight);
        if (!keepCols) cols.close();
        // the weight gradient reads cols (x's part of the product), the input gradient reads the weight
        return Linalg.recordProduct(op, out, inputs, weight, w16, x, cols16, g -> {
            Storage gx = Autograd.gradStorage(x), gw = Autograd.gradStorage(weight), gb = Autograd.gradStorage(bias);
            if (gx != null) Flops.addGradient(x, work);
            if (gw != null) Flops.addGradient(weight, work);
            try (Tensor gT = Tensor.empty(be, o, p)) {
                // dY' [O, P]: the output gradient with its first two axes swapped back
                layout.permute(g.storage(), new int[]{n, o, spatial}, new int[]{1, 0, 2}, gT.storage(), false);
                if (gb != null) be.reductions().sum(gT.storage(), gb, o, p, 1, 1f, true);
                try (Tensor gT16 = mixed && (gw != null || gx != null) ? Linalg.bf16Copy(gT) : null) {
                    Storage G = Linalg.operand(gT, gT16);
                    if (gw != null) // dW [O, K] += dY'·colsᵀ
                        Linalg.gemm(blas, mixed, false, true, o, k, p, G, 0, p, Linalg.operand(cols, cols16), 0, p, 1f, gw, 0, k);
                    if (gx != null) {
                        try (Tensor dcols = Tensor.empty(be, k, p)) { // dcols [K, P] = Wᵀ·dY', folded back onto the image
                            Linalg.gemm(blas, mixed, true, false, k, p, o, Linalg.operand(weight, w16), 0, k, G, 0, p, 0f, dcols.storage(), 0, p);
                            layout.col2im(dcols.storage(), n, c, h, w, kh, kw, stride, padding, oh, ow, gx);
                        }
                    }
                }
            }
            cols.close();
        });
    }

    /** {@link #depthwiseConv2d(Tensor, Tensor, Tensor, int, int, int, int)} with the same stride and padding on both axes. */
    public static Tensor depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        return depthwiseConv2d(x, weight, bias, stride, stride, padding, padding);
    }

    /**
     * Depthwise convolution (PyTorch's Conv2d with groups = in = out channels) of x [N, C, H, W] with weight
     * [C, 1, kh, kw] plus bias [C] (or null), zero padding and stride per axis. Output [N, C, oh, ow],
     * oh = (H + 2·padH − kh)/strideH + 1. Its work, 2·N·C·oh·ow·kh·kw per pass, is counted as convolution FLOPs.
     */
    public static Tensor depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int strideH, int strideW, int padH, int padW) {
        String op = "depthwiseConv2d";
        Shapes.requireSameBackend(op, x, weight, bias);
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": input must be [N, C, H, W], got " + x.shapeString());
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        if (weight.rank() != 4 || weight.dim(0) != c || weight.dim(1) != 1)
            throw new IllegalArgumentException(op + ": weight must be [" + c + ", 1, kh, kw] for input " + x.shapeString()
                    + ", got " + weight.shapeString());
        int kh = weight.dim(2), kw = weight.dim(3);
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != c))
            throw new IllegalArgumentException(op + ": bias " + bias.shapeString() + " does not match weight " + weight.shapeString()
                    + " (expects [" + c + "])");
        if (strideH < 1 || strideW < 1 || padH < 0 || padW < 0)
            throw new IllegalArgumentException(op + ": strides must be ≥ 1 and padding ≥ 0, got stride " + strideH + "×" + strideW
                    + ", padding " + padH + "×" + padW);
        if (h + 2 * padH < kh || w + 2 * padW < kw)
            throw new IllegalArgumentException(op + ": kernel " + kh + "×" + kw + " of weight " + weight.shapeString()
                    + " is larger than input " + x.shapeString() + " with padding " + padH + "×" + padW);
        int oh = (h + 2 * padH - kh) / strideH + 1, ow = (w + 2 * padW - kw) / strideW + 1;
        Backend be = x.backend();
        var k = be.convolution();
        Tensor out = Tensor.empty(be, n, c, oh, ow);
        k.depthwiseConv2d(x.storage(), weight.storage(), bias == null ? null : bias.storage(), out.storage(),
                n, c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow);
        long work = 2L * n * c * oh * ow * kh * kw;
        Flops.add(Flops.Kind.FORWARD, work);
        return Autograd.record(op, out, new Tensor[]{x, weight, bias}, g -> {
            Storage gx = Autograd.gradStorage(x), gw = Autograd.gradStorage(weight), gb = Autograd.gradStorage(bias);
            if (gx != null) Flops.addGradient(x, work);
            if (gw != null) Flops.addGradient(weight, work);
            k.depthwiseConv2dBackward(g.storage(), x.storage(), weight.storage(), gx, gw, gb,
                    n, c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow);
        });
    }

    /** Mean over the spatial axes: [N, C, H, W] → [N, C]. */
    public static Tensor globalAvgPool(Tensor x) {
        if (x.rank() != 4) throw new IllegalArgumentException("globalAvgPool: input must be [N, C, H, W], got " + x.shapeString());
        return Reduce.mean(x, 2, 3);
    }
}
