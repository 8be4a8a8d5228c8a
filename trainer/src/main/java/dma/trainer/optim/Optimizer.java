package dma.trainer.optim;

import dma.engine.Scope;
import dma.engine.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Updates a set of named parameters from their gradients with the engine's fused kernels. Holds its
 * state tensors (moments, momentum buffers) outside any scope until closed; they go into training
 * checkpoints so a resumed run continues exactly.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final LinkedHashMap<String, Tensor> params;
    protected final LinkedHashMap<String, Tensor> state = new LinkedHashMap<>();
    protected int steps;

    protected Optimizer(Map<String, Tensor> params) {
        this.params = new LinkedHashMap<>(params);
    }

    /** One update of every parameter that has a gradient, at learning rate {@code lr}. */
    public abstract void step(float lr);

    public static Optimizer create(String kind, Map<String, Tensor> params, double weightDecay, double momentum) {
        return switch (kind) {
            case "adamw" -> new AdamW(params, weightDecay);
            case "sgd" -> new Sgd(params, momentum, weightDecay);
            default -> throw new IllegalArgumentException("unknown optimizer '" + kind + "' (adamw, sgd)");
        };
    }

    protected final Tensor stateOf(String kind, String name, Tensor like) {
        return state.computeIfAbsent(kind + "." + name, k -> Scope.persistent(() -> Tensor.zeros(like.backend(), like.shape())));
    }

    /** Sets every parameter's gradient to zero. */
    public final void zeroGrad() {
        params.values().forEach(Tensor::zeroGrad);
    }

    public final Map<String, Tensor> parameters() {
        return params;
    }

    public final int steps() {
        return steps;
    }

    /** State tensors under "optim.&lt;kind&gt;.&lt;param&gt;" names, for a training checkpoint. */
    public final LinkedHashMap<String, Tensor> stateDict() {
        for (var e : params.entrySet()) ensureState(e.getKey(), e.getValue());
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        state.forEach((k, v) -> out.put("optim." + k, v));
        return out;
    }

    protected abstract void ensureState(String name, Tensor param);

    /** Restores state written by {@link #stateDict()}; {@code origin} names the file in errors. */
    public final void loadStateDict(Map<String, Tensor> saved, int steps, String origin) {
        for (var e : stateDict().entrySet()) {
            Tensor src = saved.get(e.getKey());
            if (src == null) throw new IllegalArgumentException(origin + ": missing optimizer state '" + e.getKey() + "'");
            if (!java.util.Arrays.equals(src.shape(), e.getValue().shape()))
                throw new IllegalArgumentException(origin + ": optimizer state '" + e.getKey() + "' has shape " + src.shapeString()
                        + ", expected " + e.getValue().shapeString());
            e.getValue().copyFrom(src);
        }
        this.steps = steps;
    }

    @Override
    public void close() {
        state.values().forEach(Tensor::close);
        state.clear();
    }
}
