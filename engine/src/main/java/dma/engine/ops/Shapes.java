package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Tensor;

import java.util.Arrays;

/** Shape arithmetic and the checks every op makes; errors name the op and both shapes. */
public final class Shapes {
    private Shapes() {}

    public static int[] contiguousStrides(int[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /** NumPy broadcasting of two shapes. */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int i = 0; i < r; i++) {
            int da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            int db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " do not broadcast (dimension " + i + ": " + da + " vs " + db + ")");
            out[i] = Math.max(da, db);
        }
        return out;
    }

    /** Strides of a contiguous tensor of {@code shape} read as {@code outShape} under broadcasting (0 where broadcast). */
    public static int[] broadcastStrides(int[] shape, int[] outShape) {
        int[] strides = contiguousStrides(shape);
        int[] out = new int[outShape.length];
        int off = outShape.length - shape.length;
        for (int i = 0; i < outShape.length; i++) {
            int j = i - off;
            out[i] = j < 0 || shape[j] == 1 ? 0 : strides[j];
        }
        return out;
    }

    public static void requireRankAtLeast(String op, Tensor t, int rank) {
        if (t.rank() < rank)
            throw new IllegalArgumentException(op + ": needs rank ≥ " + rank + ", got shape " + t.shapeString());
    }

    public static void requireShape(String op, String what, Tensor t, int... shape) {
        if (!Arrays.equals(t.shape(), shape))
            throw new IllegalArgumentException(op + ": " + what + " must have shape " + Arrays.toString(shape) + ", got " + t.shapeString());
    }

    public static void requireSameShape(String op, Tensor a, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException(op + ": shapes " + a.shapeString() + " and " + b.shapeString() + " must be equal");
    }

    public static void requireSameBackend(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && t.backend() != ts[0].backend()) {
                Backend a = ts[0].backend(), b = t.backend();
                boolean sameName = a.name().equals(b.name()); // e.g. two CPU backends with different thread counts
                throw new IllegalArgumentException(op + ": tensors live on different backends (" + (sameName ? a : a.name()) + ", "
                        + (sameName ? b : b.name()) + ")");
            }
    }

    public static int normalizeAxis(String op, int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new IllegalArgumentException(op + ": axis " + axis + " out of range for rank " + rank);
        return a;
    }

    public static int product(int[] shape, int from, int to) {
        int p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }
}
