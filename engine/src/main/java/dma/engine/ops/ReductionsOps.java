package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;

import java.util.Arrays;

/** Sums and means over axes, and the row softmax. */
public final class ReductionsOps {
    private ReductionsOps() {}

    /** Sum over the given axes (removed from the shape). */
    public static Tensor sum(Tensor x, int... axes) {
        return reduce("sum", x, axes, false);
    }

    public static Tensor mean(Tensor x, int... axes) {
        return reduce("mean", x, axes, true);
    }

    /** Sum of every element, as a scalar of shape []. */
    public static Tensor sumAll(Tensor x) {
        if (x.rank() == 0) return x;
        int[] all = new int[x.rank()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        return sum(x, all);
    }

    private static Tensor reduce(String op, Tensor x, int[] axes, boolean mean) {
        int[] shape = x.shape();
        int r = shape.length;
        if (axes.length == 0) throw new IllegalArgumentException(op + ": no axes given for shape " + x.shapeString());
        int[] ax = new int[axes.length];
        for (int i = 0; i < axes.length; i++) ax[i] = Shapes.normalizeAxis(op, axes[i], r);
        Arrays.sort(ax);
        for (int i = 1; i < ax.length; i++)
            if (ax[i] == ax[i - 1]) throw new IllegalArgumentException(op + ": axis " + ax[i] + " given twice");
        // reduce runs of consecutive axes one kernel call at a time, last run first, so earlier axis numbers stay valid
        Tensor cur = x;
        int end = ax.length;
        while (end > 0) {
            int start = end - 1;
            while (start > 0 && ax[start - 1] == ax[start] - 1) start--;
            cur = reduceRun(op, cur, ax[start], ax[end - 1] + 1, mean);
            end = start;
        }
        return cur;
    }

    /** Reduces axes [from, to) of x, which must be consecutive. */
    private static Tensor reduceRun(String op, Tensor x, int from, int to, boolean mean) {
        int[] shape = x.shape();
        int outer = Shapes.product(shape, 0, from), red = Shapes.product(shape, from, to), inner = Shapes.product(shape, to, shape.length);
        int[] outShape = new int[shape.length - (to - from)];
        System.arraycopy(shape, 0, outShape, 0, from);
        System.arraycopy(shape, to, outShape, from, shape.length - to);
        float alpha = mean ? 1f / Math.max(red, 1) : 1f;
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, outShape);
        be.reductions().sum(x.storage(), out.storage(), outer, red, inner, alpha, false);
        return Autograd.record(op, out, new Tensor[]{x},
                g -> be.reductions().expand(g.storage(), Autograd.gradStorage(x), outer, red, inner, alpha));
    }

    /** Softmax over the last axis. */
    public static Tensor softmax(Tensor x) {
        int cols = x.dim(-1), rows = x.numel() / Math.max(cols, 1);
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, x.shape());
        be.reductions().softmax(x.storage(), out.storage(), rows, cols);
        return Autograd.record("softmax", out, new Tensor[]{x},
                g -> be.reductions().softmaxBackward(out.storage(), g.storage(), Autograd.gradStorage(x), rows, cols));
    }
}
