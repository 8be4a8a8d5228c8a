package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.kernels.Blas;

import java.util.Arrays;

/** Matrix products and the linear layer, on the backend's GEMM. */
public final class Linalg {
    private Linalg() {}

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
        if (sharedB && !transA) {
            // [batch·m, k] × op(b): one GEMM over all rows
            int rows = batchA * m;
            long work = 2L * rows * n * k;
            blas.gemm(false, transB, rows, n, k, 1f, a.storage(), 0, lda, b.storage(), 0, ldb, 0f, out.storage(), 0, n);
            Flops.add(Flops.Kind.FORWARD, work);
            return Autograd.record("matmul", out, new Tensor[]{a, b}, g -> {
                Storage ga = Autograd.gradStorage(a), gb = Autograd.gradStorage(b);
                if (ga != null) Flops.addGradient(a, work);
                if (gb != null) Flops.addGradient(b, work);
                if (ga != null) // dA = dC·op(b)ᵀ
                    blas.gemm(false, !transB, rows, k, n, 1f, g.storage(), 0, n, b.storage(), 0, ldb, 1f, ga, 0, lda);
                if (gb != null) {
                    if (!transB) blas.gemm(true, false, k, n, rows, 1f, a.storage(), 0, lda, g.storage(), 0, n, 1f, gb, 0, ldb);
                    else blas.gemm(true, false, n, k, rows, 1f, g.storage(), 0, n, a.storage(), 0, lda, 1f, gb, 0, ldb);
                }
            });
        }
        int batch = batchA;
        int sa = as[ra - 2] * as[ra - 1], sb = sharedB ? 0 : bs[rb - 2] * bs[rb - 1], sc = m * n;
        blas.gemmBatched(transA, transB, m, n, k, 1f, a.storage(), 0, lda, sa, b.storage(), 0, ldb, sb, 0f, out.storage(), 0, n, sc, batch);
        long work = 2L * batch * m * n * k;
        Flops.add(Flops.Kind.FORWARD, work);
        return Autograd.record("matmul", out, new Tensor[]{a, b}, g -> {
            Storage ga = Autograd.gradStorage(a), gb = Autograd.gradStorage(b);
            if (ga != null) Flops.addGradient(a, work);
            if (gb != null) Flops.addGradient(b, work);
            Storage gs = g.storage(), A = a.storage(), B = b.storage();
            if (ga != null) {
                if (!transA) // dA[m,k] = dC·op(B)ᵀ
                    blas.gemmBatched(false, !transB, m, k, n, 1f, gs, 0, n, sc, B, 0, ldb, sb, 1f, ga, 0, lda, sa, batch);
                else         // dA[k,m] = op(B)·dCᵀ
                    blas.gemmBatched(transB, true, k, m, n, 1f, B, 0, ldb, sb, gs, 0, n, sc, 1f, ga, 0, lda, sa, batch);
            }
            if (gb != null) {
                if (sharedB) {
                    // shared b with transposed a: accumulate each batch entry's contribution in turn
                    for (int i = 0; i < batch; i++) accumulateGradB(blas, transA, transB, m, n, k, A, i * sa, lda, gs, i * sc, gb, ldb);
                } else if (!transB) // dB[k,n] = op(A)ᵀ·dC
                    blas.gemmBatched(!transA, false, k, n, m, 1f, A, 0, lda, sa, gs, 0, n, sc, 1f, gb, 0, ldb, sb, batch);
                else                // dB[n,k] = dCᵀ·op(A)
                    blas.gemmBatched(true, transA, n, k, m, 1f, gs, 0, n, sc, A, 0, lda, sa, 1f, gb, 0, ldb, sb, batch);
            }
        });
    }

    private static void accumulateGradB(Blas blas, boolean transA, boolean transB, int m, int n, int k,
                                        Storage a, int aOff, int lda, Storage g, int gOff, Storage gb, int ldb) {
        if (!transB) blas.gemm(!transA, false, k, n, m, 1f, a, aOff, lda, g, gOff, n, 1f, gb, 0, ldb);
        else blas.gemm(true, transA, n, k, m, 1f, g, gOff, n, a, aOff, lda, 1f, gb, 0, ldb);
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
        blas.gemm(false, true, rows, outF, in, 1f, x.storage(), 0, in, weight.storage(), 0, in, beta, out.storage(), 0, outF);
        long work = 2L * rows * outF * in;
        Flops.add(Flops.Kind.FORWARD, work);
        return Autograd.record("linear", out, new Tensor[]{x, weight, bias}, g -> {
            Storage gx = Autograd.gradStorage(x), gw = Autograd.gradStorage(weight), gbias = Autograd.gradStorage(bias);
            if (gx != null) Flops.addGradient(x, work);
            if (gw != null) Flops.addGradient(weight, work);
            if (gx != null) blas.gemm(false, false, rows, in, outF, 1f, g.storage(), 0, outF, weight.storage(), 0, in, 1f, gx, 0, in);
            if (gw != null) blas.gemm(true, false, outF, in, rows, 1f, g.storage(), 0, outF, x.storage(), 0, in, 1f, gw, 0, in);
            if (gbias != null) be.reductions().sum(g.storage(), gbias, 1, rows, outF, 1f, true);
        });
    }
}
