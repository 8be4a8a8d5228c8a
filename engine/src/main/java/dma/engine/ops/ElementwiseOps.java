package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.DType;
import dma.engine.Storage;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;


/** Broadcasting arithmetic, activations, dropout, drop path and casts. */
public final class ElementwiseOps {
    private ElementwiseOps() {}

    public static Tensor add(Tensor a, Tensor b) { return binary("add", BinaryOp.ADD, a, b); }
    public static Tensor sub(Tensor a, Tensor b) { return binary("sub", BinaryOp.SUB, a, b); }
    public static Tensor mul(Tensor a, Tensor b) { return binary("mul", BinaryOp.MUL, a, b); }
    public static Tensor div(Tensor a, Tensor b) { return binary("div", BinaryOp.DIV, a, b); }

    private static Tensor binary(String name, BinaryOp op, Tensor a, Tensor b) {
        Shapes.requireSameBackend(name, a, b);
        int[] shape = Shapes.broadcast(name, a.shape(), b.shape());
        int[] as = Shapes.broadcastStrides(a.shape(), shape), bs = Shapes.broadcastStrides(b.shape(), shape);
        Backend be = a.backend();
        var k = be.elementwise();
        Tensor out = Tensor.empty(be, shape);
        k.binary(op, a.storage(), as, b.storage(), bs, out.storage(), shape);
        int[] dense = Shapes.contiguousStrides(shape);
        return Autograd.record(name, out, new Tensor[]{a, b}, g -> {
            boolean sums = op == BinaryOp.ADD || op == BinaryOp.SUB;
            // add and sub take their targets as they come (a new one is written, not zeroed and added to)
            Autograd.GradTarget ta = sums ? Autograd.gradTarget(a) : null, tb = sums ? Autograd.gradTarget(b) : null;
            Storage ga = sums ? null : Autograd.gradStorage(a), gb = sums ? null : Autograd.gradStorage(b);
            switch (op) {
                case ADD, SUB -> {
                    if (ta != null) passOrReduce(be, g, shape, dense, ta, as, 1f);
                    if (tb != null) passOrReduce(be, g, shape, dense, tb, bs, op == BinaryOp.ADD ? 1f : -1f);
                }
                case MUL -> {
                    if (ga != null) accumulateProduct(be, g, dense, b.storage(), bs, shape, ga, as, 1f);
                    if (gb != null) accumulateProduct(be, g, dense, a.storage(), as, shape, gb, bs, 1f);
                }
                case DIV -> {
                    // d(a/b)/da = 1/b ; d(a/b)/db = −(a/b)/b
                    if (ga != null) {
                        try (Tensor t = Tensor.empty(be, shape)) {
                            k.binary(BinaryOp.DIV, g.storage(), dense, b.storage(), bs, t.storage(), shape);
                            k.reduceBroadcast(t.storage(), shape, ga, as, 1f);
                        }
                    }
                    if (gb != null) {
                        try (Tensor t = Tensor.empty(be, shape)) {
                            k.binary(BinaryOp.MUL, g.storage(), dense, out.storage(), dense, t.storage(), shape);
                            k.binary(BinaryOp.DIV, t.storage(), dense, b.storage(), bs, t.storage(), shape);
                            k.reduceBroadcast(t.storage(), shape, gb, bs, -1f);
                        }
                    }
                }
            }
        });
    }

    /**
     * An operand's gradient from the sum's g: copied into a new gradient of the full shape (alpha 1), else zeroed if
     * new and added to (alpha·g reduced over the operand's broadcast axes).
     */
    private static void passOrReduce(Backend be, Tensor g, int[] shape, int[] dense, Autograd.GradTarget to, int[] strides, float alpha) {
        if (to.overwrite() && alpha == 1f && java.util.Arrays.equals(strides, dense)) {
            int cols = shape.length == 0 ? 1 : Math.max(1, shape[shape.length - 1]), n = Tensor.numel(shape);
            be.layout().copyBlocks(g.storage(), 0, cols, to.storage(), 0, cols, cols, n / cols, false);
            return;
        }
        if (to.overwrite()) be.zero(to.storage());
        be.elementwise().reduceBroadcast(g.storage(), shape, to.storage(), strides, alpha);
    }

    /** grad += reduce(g ⊙ other) onto the operand's broadcast shape. */
    private static void accumulateProduct(Backend be, Tensor g, int[] dense, Storage other, int[] otherStrides,
                                          int[] shape, Storage grad, int[] gradStrides, float alpha) {
        try (Tensor t = Tensor.empty(be, shape)) {
            be.elementwise().binary(BinaryOp.MUL, g.storage(), dense, other, otherStrides, t.storage(), shape);
            be.elementwise().reduceBroadcast(t.storage(), shape, grad, gradStrides, alpha);
        }
    }

    public static Tensor scale(Tensor x, float alpha) {
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, x.shape());
        int n = x.numel();
        be.elementwise().scale(x.storage(), out.storage(), alpha, n);
        return Autograd.record("scale", out, new Tensor[]{x},
                g -> be.elementwise().axpy(alpha, g.storage(), Autograd.gradStorage(x), n));
    }

    /**
     * Layer scale (ConvNeXt's {@code gamma}, CaiT's LayerScale): x·gamma with gamma [x.dim(axis)] broadcast along
     * every other axis. axis 1 of NCHW is channels-first, axis −1 channels-last. The same as {@link #mul} with
     * gamma reshaped to broadcast, on a kernel that needs no broadcast bookkeeping.
     */
    public static Tensor layerScale(Tensor x, Tensor gamma, int axis) {
        String op = "layerScale";
        Shapes.requireSameBackend(op, x, gamma);
        int ax = Shapes.normalizeAxis(op, axis, x.rank());
        int[] shape = x.shape();
        int channels = shape[ax], outer = Shapes.product(shape, 0, ax), inner = Shapes.product(shape, ax + 1, shape.length);
        Shapes.requireShape(op, "gamma for axis " + ax + " of input " + x.shapeString(), gamma, channels);
        Backend be = x.backend();
        var k = be.elementwise();
        Tensor out = Tensor.empty(be, shape);
        k.scaleChannels(x.storage(), gamma.storage(), out.storage(), outer, channels, inner);
        return Autograd.record(op, out, new Tensor[]{x, gamma}, g -> k.scaleChannelsBackward(g.storage(), x.storage(), gamma.storage(),
                Autograd.gradStorage(x), Autograd.gradStorage(gamma), outer, channels, inner));
    }

    /** GELU, exact erf form (as timm's nn.GELU). */
    public static Tensor gelu(Tensor x) { return activation("gelu", Activation.GELU, x); }

    public static Tensor relu(Tensor x) { return activation("relu", Activation.RELU, x); }

    private static Tensor activation(String name, Activation f, Tensor x) {
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, x.shape());
        int n = x.numel();
        be.elementwise().activation(f, x.storage(), out.storage(), n);
        return Autograd.record(name, out, new Tensor[]{x},
                g -> {
                    // a new gradient is written, not zeroed and added to
                    Autograd.GradTarget to = Autograd.gradTarget(x);
                    if (to != null) be.elementwise().activationBackward(f, x.storage(), g.storage(), to.storage(), n, !to.overwrite());
                });
    }

    /** Inverted dropout with probability p; the mask is a function of {@code seed} alone. Identity when p = 0. */
    public static Tensor dropout(Tensor x, float p, long seed) {
        checkProbability("dropout", p);
        if (p == 0f) return x;
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, x.shape());
        int n = x.numel();
        be.elementwise().dropout(x.storage(), out.storage(), n, p, seed);
        return Autograd.record("dropout", out, new Tensor[]{x},
                g -> be.elementwise().dropoutBackward(g.storage(), Autograd.gradStorage(x), n, p, seed));
    }

    /** Per-sample drop path (stochastic depth) along axis 0. Identity when p = 0. */
    public static Tensor dropPath(Tensor x, float p, long seed) {
        checkProbability("dropPath", p);
        if (p == 0f) return x;
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, x.shape());
        int rows = x.dim(0), rowLen = x.numel() / Math.max(rows, 1);
        be.elementwise().dropPath(x.storage(), out.storage(), rows, rowLen, p, seed);
        return Autograd.record("dropPath", out, new Tensor[]{x},
                g -> be.elementwise().dropPathBackward(g.storage(), Autograd.gradStorage(x), rows, rowLen, p, seed));
    }

    private static void checkProbability(String op, float p) {
        if (!(p >= 0f && p < 1f)) throw new IllegalArgumentException(op + ": probability must be in [0, 1), got " + p);
    }

    /** float32 ↔ bfloat16. The gradient flows back through the reverse cast. */
    public static Tensor cast(Tensor x, DType to) {
        if (x.dtype() == to) return x;
        Backend be = x.backend();
        Tensor out = Tensor.empty(be, to, x.shape());
        int n = x.numel();
        if (to == DType.BF16) be.elementwise().castToBf16(x.storage(), out.storage(), n);
        else be.elementwise().castToF32(x.storage(), out.storage(), n);
        // gradients are always F32, whatever the dtype of the tensor they belong to
        return Autograd.record("cast", out, new Tensor[]{x},
                g -> be.elementwise().axpy(1f, g.storage(), Autograd.gradStorage(x), n));
    }

}
