package dma.engine.autograd;

import dma.engine.Tensor;

/** One recorded op: its name (for messages), its inputs, and how to push a gradient back to them. */
public final class Node {
    /** Accumulates this op's input gradients given the gradient of its output. */
    @FunctionalInterface
    public interface Backward {
        void apply(Tensor gradOut);
    }

    final String op;
    final Tensor[] inputs;
    final Backward backward;

    public Node(String op, Tensor[] inputs, Backward backward) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
    }

    public String op() { return op; }
}
