package dma.engine.autograd;

import dma.engine.GradMode;
import dma.engine.OpProfile;
import dma.engine.Scope;
import dma.engine.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;

/** The tape: recording op results and running backward in iterative topological order. */
public final class Autograd {
    private Autograd() {}

    /** True if an op on these inputs must be recorded. */
    public static boolean needsGrad(Tensor... inputs) {
        if (!GradMode.isEnabled()) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    /** Attaches a backward to {@code out} when any input requires a gradient (and the tape is on). */
    public static Tensor record(String op, Tensor out, Tensor[] inputs, Node.Backward backward) {
        if (needsGrad(inputs)) out.setNode(new Node(op, inputs, backward));
        OpProfile.forwardEnded(op, out); // every op ends here, recorded or not
        return out;
    }

    /**
     * The gradient buffer of {@code t} to accumulate into, created zeroed on first use; null when
     * {@code t} needs no gradient, which backward kernels read as "skip". A leaf's gradient lives
     * with the leaf (outside any scope); an intermediate's belongs to the current scope.
     */
    public static Tensor gradOf(Tensor t) {
        GradTarget target = gradTarget(t);
        if (target == null) return null;
        if (target.overwrite()) t.backend().zero(target.storage()); // new: this caller adds, so it starts from zeros
        return t.grad();
    }

    /**
     * Where a backward puts t's gradient: its buffer, and whether the kernel overwrites it. A gradient t does not
     * have yet comes new and NOT zeroed, and the kernel must write every element of it: that saves a memset and a
     * read of zeros per element (a ResNet-110 step has about 1.5 GB of such gradients). Kernels that only add
     * take {@link #gradStorage} instead.
     */
    public record GradTarget(dma.engine.Storage storage, boolean overwrite) {}

    /** The {@link GradTarget} of t, or null when t needs no gradient. */
    public static GradTarget gradTarget(Tensor t) {
        if (t == null || !t.requiresGrad()) return null;
        Tensor g = t.grad();
        if (g != null) return new GradTarget(g.storage(), false);
        g = t.isLeaf() ? Scope.persistent(() -> Tensor.empty(t.backend(), t.shape())) : Tensor.empty(t.backend(), t.shape());
        t.setGrad(g);
        return new GradTarget(g.storage(), true);
    }

    /** The storage of {@link #gradOf}, or null. */
    public static dma.engine.Storage gradStorage(Tensor t) {
        Tensor g = gradOf(t);
        return g == null ? null : g.storage();
    }

    /**
     * Backpropagates from a scalar. Runs without recursion (a 256-block model has thousands of nodes
     * on one path), frees each intermediate gradient as soon as its node has run, and consumes the tape.
     */
    public static void backward(Tensor root) {
        if (root.numel() != 1)
            throw new IllegalArgumentException("backward() needs a scalar; got shape " + root.shapeString());
        if (!root.requiresGrad()) throw new IllegalStateException("backward(): the tensor does not require a gradient (no trainable input, or recorded under GradMode.disabled())");
        List<Tensor> order = topologicalOrder(root);
        try (GradMode off = GradMode.disabled()) {
            Tensor seed = gradOf(root);
            root.backend().elementwise().fill(seed.storage(), 0, 1, 1f);
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Node node = t.node();
                Tensor g = t.grad();
                t.setNode(null);
                if (g == null) continue;
                long start = OpProfile.backwardStarts();
                node.backward.apply(g);
                g.close();
                OpProfile.backwardEnded(node.op(), t, start);
                t.setGrad(null);
            }
        }
    }

    /** Post-order of the non-leaf tensors reachable from root (inputs before the ops that use them). */
    static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        IdentityHashMap<Tensor, Boolean> visited = new IdentityHashMap<>();
        ArrayDeque<Tensor> stack = new ArrayDeque<>();
        ArrayDeque<Integer> nextInput = new ArrayDeque<>();
        stack.push(root);
        nextInput.push(0);
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Tensor t = stack.peek();
            int i = nextInput.pop();
            Tensor[] inputs = t.node().inputs;
            if (i < inputs.length) {
                nextInput.push(i + 1);
                Tensor in = inputs[i];
                if (in != null && in.node() != null && visited.put(in, Boolean.TRUE) == null) {
                    stack.push(in);
                    nextInput.push(0);
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
