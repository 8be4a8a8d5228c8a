package dma.engine;

import dma.engine.autograd.Node;
import dma.engine.ops.ElementwiseOps;
import dma.engine.ops.BlasOps;
import dma.engine.ops.ReductionsOps;
import dma.engine.ops.LayoutOps;

import java.util.Arrays;

/**
 * A dense, contiguous, row-major array on one backend, with an optional autograd history.
 * Tensors created inside a {@link Scope} are closed with it; others are closed by their owner.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private final Storage storage;
    private final int[] shape;
    private final DType dtype;
    private final int numel;
    private boolean requiresGrad;
    private Tensor grad;
    private Node node;
    private boolean closed;
    private boolean dataDropped;
    private String name;

    private Tensor(Backend backend, Storage storage, DType dtype, int[] shape) {
        this.backend = backend;
        this.storage = storage;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = numel(shape);
        Scope scope = Scope.current();
        if (scope != null) scope.adopt(this);
    }

    // ---------------------------------------------------------------- creation

    public static Tensor empty(Backend backend, DType dtype, int... shape) {
        checkShape(shape);
        Storage s = backend.allocate((long) numel(shape) * dtype.bytes);
        return new Tensor(backend, s, dtype, shape);
    }

    public static Tensor empty(Backend backend, int... shape) {
        return empty(backend, DType.F32, shape);
    }

    public static Tensor zeros(Backend backend, int... shape) {
        Tensor t = empty(backend, DType.F32, shape);
        backend.zero(t.storage);
        return t;
    }

    public static Tensor full(Backend backend, float value, int... shape) {
        Tensor t = empty(backend, DType.F32, shape);
        backend.elementwise().fill(t.storage, 0, t.numel, value);
        return t;
    }

    /** Copies host values in; {@code values.length} must equal the shape's element count. */
    public static Tensor of(Backend backend, float[] values, int... shape) {
        checkShape(shape);
        if (values.length != numel(shape))
            throw new IllegalArgumentException("Tensor.of: " + values.length + " values do not fill shape " + Arrays.toString(shape));
        Tensor t = empty(backend, DType.F32, shape);
        backend.upload(values, t.storage, 0);
        return t;
    }

    /** Uniform in [low, high) from the counter-based generator. */
    public static Tensor uniform(Backend backend, long seed, float low, float high, int... shape) {
        Tensor t = empty(backend, DType.F32, shape);
        backend.elementwise().randomUniform(t.storage, t.numel, seed, low, high);
        return t;
    }

    public static Tensor normal(Backend backend, long seed, float mean, float std, int... shape) {
        Tensor t = empty(backend, DType.F32, shape);
        backend.elementwise().randomNormal(t.storage, t.numel, seed, mean, std, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY);
        return t;
    }

    /** A tensor sharing this one's storage with another shape of the same size, without history (reshape adds the history). */
    public Tensor viewWithShape(int... newShape) {
        checkOpen();
        if (numel(newShape) != numel)
            throw new IllegalArgumentException("view: shape " + Arrays.toString(newShape) + " does not hold the " + numel + " elements of " + shapeString());
        storage.retain();
        return new Tensor(backend, storage, dtype, newShape);
    }

    // ---------------------------------------------------------------- properties

    public Backend backend() { return backend; }
    public Storage storage() {
        checkOpen();
        if (dataDropped) throw new IllegalStateException("tensor " + shapeString() + ": its data was dropped after use (dropData) and cannot be read");
        return storage;
    }
    public DType dtype() { return dtype; }
    public int[] shape() { return shape.clone(); }
    public int dim(int axis) { return shape[axis < 0 ? shape.length + axis : axis]; }
    public int rank() { return shape.length; }
    public int numel() { return numel; }
    public String name() { return name; }
    public Tensor named(String name) { this.name = name; return this; }

    /** Shape as "[a, b, c]" for messages. */
    public String shapeString() { return Arrays.toString(shape); }

    // ---------------------------------------------------------------- host transfer

    public float[] toFloats() {
        checkOpen();
        requireF32("toFloats");
        float[] out = new float[numel];
        backend.download(storage(), 0, out);
        return out;
    }

    public float item() {
        if (numel != 1) throw new IllegalStateException("item() needs one element, tensor has shape " + shapeString());
        float[] v = new float[1];
        backend.download(storage(), 0, v);
        return v[0];
    }

    public void copyFrom(float[] values) {
        checkOpen();
        requireF32("copyFrom");
        if (values.length != numel)
            throw new IllegalArgumentException("copyFrom: " + values.length + " values into tensor of shape " + shapeString());
        backend.upload(values, storage(), 0);
    }

    /** Copies another tensor's contents of the same shape and dtype into this one (no autograd). */
    public void copyFrom(Tensor src) {
        checkOpen();
        if (!Arrays.equals(src.shape, shape) || src.dtype != dtype)
            throw new IllegalArgumentException("copyFrom: source " + src.dtype + src.shapeString() + " into " + dtype + shapeString());
        backend.copy(src.storage(), storage(), (long) numel * dtype.bytes);
    }

    // ---------------------------------------------------------------- autograd

    public boolean requiresGrad() { return requiresGrad; }

    /** Marks a leaf (a parameter) as trainable or frozen. Frozen leaves receive no gradient and cost no weight-gradient work. */
    public Tensor requiresGrad(boolean value) {
        if (node != null) throw new IllegalStateException("requiresGrad can only be set on a leaf tensor");
        requiresGrad = value;
        return this;
    }

    public boolean isLeaf() { return node == null; }

    /** The accumulated gradient, or null if none has been computed. */
    public Tensor grad() { return grad; }

    public void setGrad(Tensor g) { this.grad = g; }

    public Node node() { return node; }

    /** Called by op front-ends: attaches the history of an op result. */
    public void setNode(Node node) {
        this.node = node;
        this.requiresGrad = node != null;
    }

    /** Runs backpropagation from this scalar (gradient 1). */
    public void backward() {
        dma.engine.autograd.Autograd.backward(this);
    }

    /** Zeroes the accumulated gradient in place (keeps its memory). */
    public void zeroGrad() {
        if (grad != null) backend.zero(grad.storage());
    }

    /** A tensor with the same storage and no history (gradients stop here). */
    public Tensor detach() {
        return viewWithShape(shape);
    }

    // ---------------------------------------------------------------- lifetime

    /** Hands this tensor to the enclosing scope (or to the caller at top level) so the current scope does not free it. */
    public Tensor keep() {
        Scope s = Scope.current();
        if (s != null) s.release(this);
        return this;
    }

    public boolean isClosed() { return closed; }

    /**
     * Frees this tensor's memory now while keeping its shape and autograd history, for an intermediate whose
     * values no backward will read (a permute's or slice's input, say): gradients still flow through it.
     * Peak memory of a step then follows what backward really needs, not everything the forward created.
     */
    public void dropData() {
        if (closed || dataDropped) return;
        dataDropped = true;
        storage.release();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        node = null;
        if (!dataDropped) storage.release();
        if (grad != null) {
            grad.close();
            grad = null;
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("tensor " + (name != null ? "'" + name + "' " : "") + shapeString() + " was already closed");
    }

    private void requireF32(String op) {
        if (dtype != DType.F32) throw new IllegalStateException(op + ": needs F32, tensor is " + dtype);
    }

    // ---------------------------------------------------------------- convenience forms of common ops

    public Tensor add(Tensor other) { return ElementwiseOps.add(this, other); }
    public Tensor sub(Tensor other) { return ElementwiseOps.sub(this, other); }
    public Tensor mul(Tensor other) { return ElementwiseOps.mul(this, other); }
    public Tensor div(Tensor other) { return ElementwiseOps.div(this, other); }
    public Tensor scale(float alpha) { return ElementwiseOps.scale(this, alpha); }
    public Tensor matmul(Tensor other) { return BlasOps.matmul(this, other); }
    public Tensor reshape(int... newShape) { return LayoutOps.reshape(this, newShape); }
    public Tensor permute(int... perm) { return LayoutOps.permute(this, perm); }
    public Tensor sum(int... axes) { return ReductionsOps.sum(this, axes); }
    public Tensor mean(int... axes) { return ReductionsOps.mean(this, axes); }
    public Tensor sumAll() { return ReductionsOps.sumAll(this); }

    // ---------------------------------------------------------------- shape helpers

    public static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^31-1 elements");
        return (int) n;
    }

    private static void checkShape(int[] shape) {
        for (int d : shape)
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
    }

    @Override
    public String toString() {
        return "Tensor" + (name != null ? "('" + name + "')" : "") + dtype + shapeString() + "@" + backend.name();
    }
}
