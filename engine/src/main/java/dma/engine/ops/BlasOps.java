package dma.engine.ops;

import dma.engine.Autocast;
import dma.engine.Backend;
import dma.engine.DType;
import dma.engine.Flops;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.autograd.Node;
import dma.engine.kernels.Blas;

import java.util.Arrays;

/**
 * Matrix products and the linear layer, on the backend's GEMM. Under {@link Autocast#bf16()} every GEMM, forward
 * and backward, reads bfloat16 copies of its operands (the output gradient cast on the way back) and accumulates
 * in float32 into float32 outputs and gradients; the copies are temporaries, freed as soon as no backward needs them.
 */
public final class BlasOps {
    private BlasOps() {}

    public static Tensor matmul(Tensor a, Tensor b) {
        return matmul(a, b, false, false);
    }

    /**
     * op(a)·op(b) over the last two axes, op = transpose when asked. Leading axes are batch axes: equal in
     * both, or b is 2-D and shared by every batch entry (then a's rows are flattened into one GEMM when a is not transposed).
     */
    public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        Shapes.requireSameBackend("matmul", a, b);
        Shapes.requireRankAtLeast("matmul", a, 2);
        Shapes.requireRankAtLeast("matmul", b, 2);
        int[] as = a.shape(), bs = b.shape();
        int ra = as.length, rb = bs.length;
        int m = transA ? as[ra - 1] : as[ra - 2], ka = transA ? as[ra - 2] : as[ra - 1];
        int kb = transB ? bs[rb - 1] : bs[rb - 2], n = transB ? bs[rb - 2] : bs[rb - 1];
        if (ka != kb)
            throw new IllegalArgumentException("matmul: shapes " + a.shapeString() + (transA ? "ᵀ" : "") + " and " + b.shapeString()
                    + (transB ? "ᵀ" : "") + " do not match (inner dimensions " + ka + " vs " + kb + ")");
        int k = ka;
        int batchA = Shapes.product(as, 0, ra - 2), batchB = Shapes.product(bs, 0, rb - 2);
        boolean sharedB = rb == 2;
        if (!sharedB && (ra != rb || !Arrays.equals(Arrays.copyOf(as, ra - 2), Arrays.copyOf(bs, rb - 2))))
            throw new IllegalArgumentException("matmul: batch dimensions of " + a.shapeString() + " and " + b.shapeString() + " differ");
        if (ra == 2 && rb > 2)
            throw new IllegalArgumentException("matmul: a 2-D left operand " + a.shapeString() + " with a batched right operand " + b.shapeString() + " is not supported");
        int[] outShape = Arrays.copyOf(as, ra);
        outShape[ra - 2] = m;
        outShape[ra - 1] = n;
        Backend be = a.backend();
        Blas blas = be.blas();
        Tensor out = Tensor.empty(be, outShape);
        int lda = as[ra - 1], ldb = bs[rb - 1];
        boolean mixed = Autocast.isBf16();
        Tensor a16 = mixed ? bf16Copy(a) : null, b16 = mixed ? bf16Copy(b) : null;
        Tensor[] inputs = {a, b};
        if (sharedB && !transA) {
            // [batch·m, k] × op(b): one GEMM over all rows
            int rows = batchA * m;
            long work = 2L * rows * n * k;
            gemm(blas, mixed, false, transB, rows, n, k, operand(a, a16), 0, lda, operand(b, b16), 0, ldb, 0f, out.storage(), 0, n);
            Flops.add(Flops.Kind.FORWARD, work);
            return recordProduct("matmul", out, inputs, a, a16, b, b16, g -> {
                Storage ga = Autograd.gradStorage(a), gb = Autograd.gradStorage(b);
                if (ga != null) Flops.addGradient(a, work);
                if (gb != null) Flops.addGradient(b, work);
                try (Tensor g16 = mixed ? bf16Copy(g) : null) {
                    Storage G = operand(g, g16);
                    if (ga != null) // dA = dC·op(b)ᵀ
                        gemm(blas, mixed, false, !transB, rows, k, n, G, 0, n, operand(b, b16), 0, ldb, 1f, ga, 0, lda);
                    if (gb != null) {
                        Storage A = operand(a, a16);
                        if (!transB) gemm(blas, mixed, true, false, k, n, rows, A, 0, lda, G, 0, n, 1f, gb, 0, ldb);
                        else gemm(blas, mixed, true, false, n, k, rows, G, 0, n, A, 0, lda, 1f, gb, 0, ldb);
                    }
                }
            });
        }
        int batch = batchA;
        int sa = as[ra - 2] * as[ra - 1], sb = sharedB ? 0 : bs[rb - 2] * bs[rb - 1], sc = m * n;
        gemmBatched(blas, mixed, transA, transB, m, n, k, operand(a, a16), 0, lda, sa, operand(b, b16), 0, ldb, sb,
                0f, out.storage(), 0, n, sc, batch);
        long work = 2L * batch * m * n * k;
        Flops.add(Flops.Kind.FORWARD, work);
        return recordProduct("matmul", out, inputs, a, a16, b, b16, g -> {
            Storage ga = Autograd.gradStorage(a), gb = Autograd.gradStorage(b);
            if (ga != null) Flops.addGradient(a, work);
            if (gb != null) Flops.addGradient(b, work);
            try (Tensor g16 = mixed ? bf16Copy(g) : null) {
                Storage gs = operand(g, g16);
                if (ga != null) {
                    Storage B = operand(b, b16);
                    if (!transA) // dA[m,k] = dC·op(B)ᵀ
                        gemmBatched(blas, mixed, false, !transB, m, k, n, gs, 0, n, sc, B, 0, ldb, sb, 1f, ga, 0, lda, sa, batch);
                    else         // dA[k,m] = op(B)·dCᵀ
                        gemmBatched(blas, mixed, transB, true, k, m, n, B, 0, ldb, sb, gs, 0, n, sc, 1f, ga, 0, lda, sa, batch);
                }
                if (gb != null) {
                    Storage A = operand(a, a16);
                    if (sharedB) {
                        // shared b with transposed a: accumulate each batch entry's contribution in turn
                        for (int i = 0; i < batch; i++) accumulateGradB(blas, mixed, transA, transB, m, n, k, A, i * sa, lda, gs, i * sc, gb, ldb);
                    } else if (!transB) // dB[k,n] = op(A)ᵀ·dC
                        gemmBatched(blas, mixed, !transA, false, k, n, m, A, 0, lda, sa, gs, 0, n, sc, 1f, gb, 0, ldb, sb, batch);
                    else                // dB[n,k] = dCᵀ·op(A)
                        gemmBatched(blas, mixed, true, transA, n, k, m, gs, 0, n, sc, A, 0, lda, sa, 1f, gb, 0, ldb, sb, batch);
                }
            }
        });
    }

    private static void accumulateGradB(Blas blas, boolean mixed, boolean transA, boolean transB, int m, int n, int k,
                                        Storage a, int aOff, int lda, Storage g, int gOff, Storage gb, int ldb) {
        if (!transB) gemm(blas, mixed, !transA, false, k, n, m, a, aOff, lda, g, gOff, n, 1f, gb, 0, ldb);
        else gemm(blas, mixed, true, transA, n, k, m, g, gOff, n, a, aOff, lda, 1f, gb, 0, ldb);
    }

    /** y = x·Wᵀ + b for x [..., in], W [out, in] (PyTorch's layout), b [out] or null. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        Shapes.requireSameBackend("linear", x, weight, bias);
        Shapes.requireRankAtLeast("linear", weight, 2);
        int in = x.dim(-1), outF = weight.dim(0);
        if (weight.rank() != 2 || weight.dim(1) != in)
            throw new IllegalArgumentException("linear: input " + x.shapeString() + " does not match weight " + weight.shapeString() + " (expects [out, " + in + "])");
        if (bias != null) Shapes.requireShape("linear", "bias", bias, outF);
        int rows = x.numel() / in;
        int[] outShape = x.shape();
        outShape[outShape.length - 1] = outF;
        Backend be = x.backend();
        Blas blas = be.blas();
        Tensor out = Tensor.empty(be, outShape);
        float beta = 0f;
        if (bias != null) {
            be.layout().copyBlocks(bias.storage(), 0, 0, out.storage(), 0, outF, outF, rows, false);
            beta = 1f;
        }
        boolean mixed = Autocast.isBf16();
        Tensor x16 = mixed ? bf16Copy(x) : null, w16 = mixed ? bf16Copy(weight) : null;
        gemm(blas, mixed, false, true, rows, outF, in, operand(x, x16), 0, in, operand(weight, w16), 0, in, beta, out.storage(), 0, outF);
        long work = 2L * rows * outF * in;
        Flops.add(Flops.Kind.FORWARD, work);
        return recordProduct("linear", out, new Tensor[]{x, weight, bias}, x, x16, weight, w16, g -> {
            // x's gradient, when new, is written by the GEMM (beta 0) instead of zeroed and added to
            Autograd.GradTarget tx = Autograd.gradTarget(x);
            Storage gx = tx == null ? null : tx.storage(), gw = Autograd.gradStorage(weight), gbias = Autograd.gradStorage(bias);
            float betaX = tx != null && tx.overwrite() ? 0f : 1f;
            if (gx != null) Flops.addGradient(x, work);
            if (gw != null) Flops.addGradient(weight, work);
            try (Tensor g16 = mixed && (gx != null || gw != null) ? bf16Copy(g) : null) {
                Storage G = operand(g, g16);
                if (gx != null) gemm(blas, mixed, false, false, rows, in, outF, G, 0, outF, operand(weight, w16), 0, in, betaX, gx, 0, in);
                if (gw != null) gemm(blas, mixed, true, false, outF, in, rows, G, 0, outF, operand(x, x16), 0, in, 1f, gw, 0, in);
            }
            if (gbias != null) be.reductions().sum(g.storage(), gbias, 1, rows, outF, 1f, true);
        });
    }

    // ---------------------------------------------------------------- mixed precision plumbing (also used by ConvolutionOps)

    /** A bfloat16 copy of {@code t}'s values, without history, owned by the current scope (or by the caller). */
    static Tensor bf16Copy(Tensor t) {
        Tensor copy = Tensor.empty(t.backend(), DType.BF16, t.shape());
        t.backend().elementwise().castToBf16(t.storage(), copy.storage(), t.numel());
        return copy;
    }

    /** What a GEMM reads for operand {@code t}: its bf16 copy under autocast (non-null {@code t16}), else t itself. */
    static Storage operand(Tensor t, Tensor t16) {
        return t16 != null ? t16.storage() : t.storage();
    }

    /** C = op(A)·op(B) + beta·C on float32 operands, or on bf16 ones with float32 accumulation when {@code bf16}. */
    static void gemm(Blas blas, boolean bf16, boolean transA, boolean transB, int m, int n, int k,
                     Storage a, int aOff, int lda, Storage b, int bOff, int ldb, float beta, Storage c, int cOff, int ldc) {
        if (bf16) blas.gemmBf16(transA, transB, m, n, k, 1f, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        else blas.gemm(transA, transB, m, n, k, 1f, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** The batched form of {@link #gemm(Blas, boolean, boolean, boolean, int, int, int, Storage, int, int, Storage, int, int, float, Storage, int, int)}. */
    static void gemmBatched(Blas blas, boolean bf16, boolean transA, boolean transB, int m, int n, int k,
                            Storage a, int aOff, int lda, int strideA, Storage b, int bOff, int ldb, int strideB,
                            float beta, Storage c, int cOff, int ldc, int strideC, int batch) {
        if (bf16) blas.gemmBatchedBf16(transA, transB, m, n, k, 1f, a, aOff, lda, strideA, b, bOff, ldb, strideB, beta, c, cOff, ldc, strideC, batch);
        else blas.gemmBatched(transA, transB, m, n, k, 1f, a, aOff, lda, strideA, b, bOff, ldb, strideB, beta, c, cOff, ldc, strideC, batch);
    }

    /**
     * Records the backward of a product of a and b whose GEMMs read the bf16 copies a16 and b16 (null without
     * autocast), freeing each copy as soon as nothing will read it: both at once when no gradient flows; a's copy
     * when b needs no gradient (only b's gradient reads a) and the other way round; the rest after backward.
     */
    static Tensor recordProduct(String op, Tensor out, Tensor[] inputs, Tensor a, Tensor a16, Tensor b, Tensor b16, Node.Backward backward) {
        if (!Autograd.needsGrad(inputs)) {
            closeAll(a16, b16);
            return out;
        }
        if (!Autograd.needsGrad(b)) closeAll(a16);
        if (!Autograd.needsGrad(a)) closeAll(b16);
        if (a16 == null && b16 == null) return Autograd.record(op, out, inputs, backward);
        return Autograd.record(op, out, inputs, g -> {
            try {
                backward.apply(g);
            } finally {
                closeAll(a16, b16);
            }
        });
    }

    private static void closeAll(Tensor... tensors) {
        for (Tensor t : tensors) if (t != null) t.close();
    }
}
