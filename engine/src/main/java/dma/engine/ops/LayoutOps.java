package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.Storage;

import java.util.Arrays;

/** Reshape (a view), permute, slice and concat. */
public final class LayoutOps {
    private LayoutOps() {}

    /** Same data, new shape; one dimension may be -1. Shares storage with {@code x}. */
    public static Tensor reshape(Tensor x, int... newShape) {
        int[] shape = newShape.clone();
        int infer = -1, known = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + Arrays.toString(newShape));
                infer = i;
            } else known *= shape[i];
        }
        if (infer >= 0) {
            if (known == 0 || x.numel() % known != 0)
                throw new IllegalArgumentException("reshape: cannot reshape " + x.shapeString() + " into " + Arrays.toString(newShape));
            shape[infer] = x.numel() / known;
        }
        if (Tensor.numel(shape) != x.numel())
            throw new IllegalArgumentException("reshape: cannot reshape " + x.shapeString() + " (" + x.numel() + " elements) into " + Arrays.toString(newShape));
        Tensor out = x.viewWithShape(shape);
        int n = x.numel();
        return Autograd.record("reshape", out, new Tensor[]{x},
                g -> x.backend().elementwise().axpy(1f, g.storage(), Autograd.gradStorage(x), n));
    }

    /** A contiguous copy with the axes reordered: out.shape[i] = x.shape[perm[i]]. */
    public static Tensor permute(Tensor x, int... perm) {
        int r = x.rank();
        if (perm.length != r) throw new IllegalArgumentException("permute: " + Arrays.toString(perm) + " for shape " + x.shapeString());
        int[] inv = new int[r];
        boolean[] seen = new boolean[r];
        int[] outShape = new int[r];
        for (int i = 0; i < r; i++) {
            int p = perm[i];
            if (p < 0 || p >= r || seen[p]) throw new IllegalArgumentException("permute: " + Arrays.toString(perm) + " is not a permutation of " + r + " axes");
            seen[p] = true;
            inv[p] = i;
            outShape[i] = x.dim(p);
        }
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, outShape);
        int[] inShape = x.shape();
        be.layout().permute(x.storage(), inShape, perm, out.storage(), false);
        return Autograd.record("permute", out, new Tensor[]{x},
                g -> be.layout().permute(g.storage(), outShape, inv, Autograd.gradStorage(x), true));
    }

    /** Swaps two axes (a copy). */
    public static Tensor transpose(Tensor x, int a, int b) {
        int r = x.rank();
        a = Shapes.normalizeAxis("transpose", a, r);
        b = Shapes.normalizeAxis("transpose", b, r);
        int[] perm = new int[r];
        for (int i = 0; i < r; i++) perm[i] = i;
        perm[a] = b;
        perm[b] = a;
        return permute(x, perm);
    }

    /** Elements [start, start+length) along {@code axis} (a copy). */
    public static Tensor slice(Tensor x, int axis, int start, int length) {
        int[] shape = x.shape();
        int ax = Shapes.normalizeAxis("slice", axis, shape.length);
        if (start < 0 || length < 0 || start + length > shape[ax])
            throw new IllegalArgumentException("slice: [" + start + ", " + (start + length) + ") out of range for axis " + ax + " of shape " + x.shapeString());
        int outer = Shapes.product(shape, 0, ax), inner = Shapes.product(shape, ax + 1, shape.length);
        int[] outShape = shape.clone();
        outShape[ax] = length;
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, outShape);
        int srcStride = shape[ax] * inner, block = length * inner;
        be.layout().copyBlocks(x.storage(), start * inner, srcStride, out.storage(), 0, block, block, outer, false);
        return Autograd.record("slice", out, new Tensor[]{x},
                g -> be.layout().copyBlocks(g.storage(), 0, block, Autograd.gradStorage(x), start * inner, srcStride, block, outer, true));
    }

    /** Joins tensors along {@code axis}; all other dimensions must agree. */
    public static Tensor concat(int axis, Tensor... xs) {
        if (xs.length == 0) throw new IllegalArgumentException("concat: no tensors");
        Shapes.requireSameBackend("concat", xs);
        int[] first = xs[0].shape();
        int ax = Shapes.normalizeAxis("concat", axis, first.length);
        int total = 0;
        for (Tensor t : xs) {
            int[] s = t.shape();
            boolean ok = s.length == first.length;
            for (int i = 0; ok && i < s.length; i++) ok = i == ax || s[i] == first[i];
            if (!ok) throw new IllegalArgumentException("concat: shapes " + xs[0].shapeString() + " and " + t.shapeString() + " differ outside axis " + ax);
            total += s[ax];
        }
        int outer = Shapes.product(first, 0, ax), inner = Shapes.product(first, ax + 1, first.length);
        int[] outShape = first.clone();
        outShape[ax] = total;
        Backend be = xs[0].backend();
        Tensor out = Tensor.empty(be, outShape);
        int dstStride = total * inner;
        int[] offsets = new int[xs.length];
        int off = 0;
        for (int i = 0; i < xs.length; i++) {
            offsets[i] = off;
            int block = xs[i].dim(ax) * inner;
            be.layout().copyBlocks(xs[i].storage(), 0, block, out.storage(), off, dstStride, block, outer, false);
            off += block;
        }
        return Autograd.record("concat", out, xs.clone(), g -> {
            for (int i = 0; i < xs.length; i++) {
                Storage gx = Autograd.gradStorage(xs[i]);
                if (gx == null) continue;
                int block = xs[i].dim(ax) * inner;
                be.layout().copyBlocks(g.storage(), offsets[i], dstStride, gx, 0, block, block, outer, true);
            }
        });
    }
}
