package dma.models.nn;

import dma.engine.Scope;
import dma.engine.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A layer or model: named parameters, named buffers (running statistics) and named children.
 * Names compose with dots as in PyTorch state dicts ({@code blocks.3.attn.qkv.weight}), so
 * checkpoints move between this project and timm. Parameters and buffers live outside any
 * {@link Scope}: a module owns them until {@link #close()}.
 */
public abstract class Module implements AutoCloseable {
    private final LinkedHashMap<String, Tensor> params = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> buffers = new LinkedHashMap<>();
    private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a trainable parameter created by {@code init} (outside any scope). */
    protected final Tensor parameter(String name, Supplier<Tensor> init) {
        Tensor t = Scope.persistent(init).requiresGrad(true).named(name);
        params.put(name, t);
        return t;
    }

    /** Registers a buffer: state saved in checkpoints but not trained (BatchNorm running statistics). */
    protected final Tensor buffer(String name, Supplier<Tensor> init) {
        Tensor t = Scope.persistent(init).named(name);
        buffers.put(name, t);
        return t;
    }

    protected final <M extends Module> M child(String name, M module) {
        children.put(name, module);
        return module;
    }

    /** Every parameter with its full dotted name, own ones first, then each child's in registration order. */
    public final LinkedHashMap<String, Tensor> parameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, false);
        return out;
    }

    /** Parameters and buffers: what a checkpoint holds. */
    public final LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, true);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, boolean withBuffers) {
        params.forEach((k, v) -> out.put(prefix + k, v));
        if (withBuffers) buffers.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collect(prefix + k + ".", out, withBuffers));
    }

    /** The parameters that are currently trainable. */
    public final LinkedHashMap<String, Tensor> trainableParameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        parameters().forEach((k, v) -> {
            if (v.requiresGrad()) out.put(k, v);
        });
        return out;
    }

    /** This module and every module below it that is a {@code type}, depth first in registration order. */
    public final <M extends Module> java.util.List<M> modulesOf(Class<M> type) {
        java.util.List<M> out = new java.util.ArrayList<>();
        if (type.isInstance(this)) out.add(type.cast(this));
        children.values().forEach(c -> out.addAll(c.modulesOf(type)));
        return out;
    }

    /** Train mode (batch statistics, drop path active) or eval mode, for this module and all below it. */
    public final void train(boolean mode) {
        training = mode;
        children.values().forEach(c -> c.train(mode));
    }

    public final boolean isTraining() {
        return training;
    }

    /** Freezes (false) or unfreezes (true) every parameter below this module. */
    public final void setTrainable(boolean trainable) {
        parameters().values().forEach(p -> p.requiresGrad(trainable));
    }

    /**
     * Copies values from {@code source} into this module's state. Every key of the module must be present
     * with the same shape; {@code origin} (a file name) is named in errors. Extra keys in the source are
     * an error too when {@code strict}.
     */
    public final void load(Map<String, Tensor> source, String origin, boolean strict) {
        LinkedHashMap<String, Tensor> state = stateDict();
        for (var e : state.entrySet()) {
            Tensor src = source.get(e.getKey());
            if (src == null) throw new IllegalArgumentException(origin + ": missing tensor '" + e.getKey() + "' (shape " + e.getValue().shapeString() + ")");
            if (!Arrays.equals(src.shape(), e.getValue().shape()))
                throw new IllegalArgumentException(origin + ": tensor '" + e.getKey() + "' has shape " + src.shapeString()
                        + " but the model expects " + e.getValue().shapeString());
        }
        if (strict)
            for (String k : source.keySet())
                if (!state.containsKey(k)) throw new IllegalArgumentException(origin + ": unexpected tensor '" + k + "' (not part of the model)");
        state.forEach((k, t) -> t.copyFrom(source.get(k)));
    }

    public final long parameterCount() {
        long n = 0;
        for (Tensor t : parameters().values()) n += t.numel();
        return n;
    }

    @Override
    public void close() {
        params.values().forEach(Tensor::close);
        buffers.values().forEach(Tensor::close);
        children.values().forEach(Module::close);
    }
}
