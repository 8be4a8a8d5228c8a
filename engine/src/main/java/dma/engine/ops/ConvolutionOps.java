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

/** 2-D convolution (a backend's direct kernel, or im2col + one GEMM), depthwise convolution, and global average pooling. */
public final class ConvolutionOps {
    private ConvolutionOps() {}


    /**
     * Cross-correlation (PyTorch's Conv2d) of x [N, C, H, W] with weight [O, C, kh, kw], plus bias [O] (or null),
     * with the same stride and zero padding on both spatial axes. Output [N, O, oh, ow],
     * oh = (H + 2·padding − kh)/stride + 1.
     *
     * <p>Where the backend has a direct kernel for the shape ({@link dma.engine.kernels.Convolution#hasDirectConv2d}:
     * the CPU at stride 1) it runs that, forward and backward. Otherwise, with K = C·kh·kw and S = oh·ow: images go in chunks of m; for each, cols [K, m·S] = im2col(chunk), Y' [O, m·S] =
     * W·cols (one GEMM), and each image's [O, S] block of Y' is copied to the output. cols is a workspace of at most
     * {@link Backend#workspaceFloats} floats (CPU: 4 MiB, so cols stays in cache between im2col, the GEMM and col2im; a
     * ResNet-110 step ran 26 img/s at 16 MiB, 28 at 4 MiB), not saved: backward rebuilds it from x. Saving it cost a ResNet-110 step at batch 128
     * over 4 GB; rebuilding costs one im2col per chunk. One GEMM per chunk beat m per-image GEMMs (small O × S products).
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
        int k = c * kh * kw, spatial = oh * ow, image = c * h * w, outImage = o * spatial;
        int chunk = (int) Math.max(1, Math.min(n, x.backend().workspaceFloats() / Math.max(1L, (long) k * spatial)));

        Backend be = x.backend();
        Blas blas = be.blas();
        Layout layout = be.layout();
        // under autocast the GEMMs read bf16 copies of the weight and of each cols chunk
        boolean mixed = Autocast.isBf16();
        Tensor w16 = mixed ? BlasOps.bf16Copy(weight) : null;
        Storage W = BlasOps.operand(weight, w16);
        Tensor out = Tensor.empty(be, n, o, oh, ow);
        // a backend's direct kernel where it has one (the CPU's at stride 1), in fp32 only: autocast's bf16 rounding is the GEMMs'
        var conv = be.convolution();
        boolean direct = !mixed && conv.hasDirectConv2d(kh, kw, stride, padding);
        if (direct) conv.conv2d(x.storage(), weight.storage(), out.storage(), n, c, h, w, o, kh, kw, padding);
        else try (Tensor cols = Tensor.empty(be, k, chunk * spatial); Tensor y = Tensor.empty(be, o, chunk * spatial)) {
            for (int i0 = 0; i0 < n; i0 += chunk) {
                int m = Math.min(chunk, n - i0), width = m * spatial;
                layout.im2col(x.storage(), i0 * image, m, c, h, w, kh, kw, stride, padding, oh, ow, cols.storage());
                try (Tensor cols16 = mixed ? BlasOps.bf16Copy(cols) : null) {
                    BlasOps.gemm(blas, mixed, false, false, o, width, k, W, 0, k, BlasOps.operand(cols, cols16), 0, width, 0f, y.storage(), 0, width);
                }
                for (int j = 0; j < m; j++) // Y' [O, m·S] → each image's [O, S] block of the output
                    layout.copyBlocks(y.storage(), j * spatial, width, out.storage(), (i0 + j) * outImage, spatial, spatial, o, false);
            }
        }
        if (bias != null) // in place: out[i, ch, s] += bias[ch]
            be.elementwise().binary(BinaryOp.ADD, out.storage(), new int[]{outImage, spatial, 1}, bias.storage(), new int[]{0, 1, 0},
                    out.storage(), new int[]{n, o, spatial});
        long work = 2L * o * k * n * spatial;
        Flops.add(Flops.Kind.FORWARD, work);
        Tensor[] inputs = {x, weight, bias};
        // the input gradient reads the weight (w16 under autocast); the weight gradient reads x, rebuilt into cols
        return BlasOps.recordProduct(op, out, inputs, weight, w16, x, null, g -> {
            // the direct kernel overwrites a new input gradient (no zeroing); im2col's col2im adds into a zeroed one
            Autograd.GradTarget tx = direct ? Autograd.gradTarget(x) : null;
            Storage gx = direct ? (tx == null ? null : tx.storage()) : Autograd.gradStorage(x);
            Storage gw = Autograd.gradStorage(weight), gb = Autograd.gradStorage(bias);
            if (gx != null) Flops.addGradient(x, work);
            if (gw != null) Flops.addGradient(weight, work);
            if (gb != null) { // gb[ch] += Σ over images and positions
                try (Tensor perImage = Tensor.empty(be, n, o)) {
                    be.reductions().sum(g.storage(), perImage.storage(), n * o, spatial, 1, 1f, false);
                    be.reductions().sum(perImage.storage(), gb, 1, n, o, 1f, true);
                }
            }
            if (gw == null && gx == null) return;
            if (direct) {
                conv.conv2dBackward(g.storage(), x.storage(), weight.storage(), gx, tx != null && tx.overwrite(), gw, n, c, h, w, o, kh, kw, padding);
                return;
            }
            // per chunk, dY' [O, m·S] gathers each image's [O, S] block of the output gradient; then one GEMM each:
            // dW [O, K] += dY'·colsᵀ (K-dimension m·S) and dcols [K, m·S] = Wᵀ·dY', folded back onto the chunk's images
            try (Tensor cols = gw != null ? Tensor.empty(be, k, chunk * spatial) : null;
                 Tensor gT = Tensor.empty(be, o, chunk * spatial);
                 Tensor dcols = gx != null ? Tensor.empty(be, k, chunk * spatial) : null) {
                for (int i0 = 0; i0 < n; i0 += chunk) {
                    int m = Math.min(chunk, n - i0), width = m * spatial;
                    for (int j = 0; j < m; j++)
                        layout.copyBlocks(g.storage(), (i0 + j) * outImage, spatial, gT.storage(), j * spatial, width, spatial, o, false);
                    try (Tensor gT16 = mixed ? BlasOps.bf16Copy(gT) : null) {
                        Storage G = BlasOps.operand(gT, gT16);
                        if (gw != null) {
                            layout.im2col(x.storage(), i0 * image, m, c, h, w, kh, kw, stride, padding, oh, ow, cols.storage());
                            try (Tensor cols16 = mixed ? BlasOps.bf16Copy(cols) : null) {
                                BlasOps.gemm(blas, mixed, false, true, o, k, width, G, 0, width, BlasOps.operand(cols, cols16), 0, width, 1f, gw, 0, k);
                            }
                        }
                        if (gx != null) {
                            BlasOps.gemm(blas, mixed, true, false, k, width, o, W, 0, k, G, 0, width, 0f, dcols.storage(), 0, width);
                            layout.col2im(dcols.storage(), m, c, h, w, kh, kw, stride, padding, oh, ow, gx, i0 * image);
                        }
                    }
                }
            }
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
        return ReductionsOps.mean(x, 2, 3);
    }
}
