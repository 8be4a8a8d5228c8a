package dma.models.assemble;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.io.TensorFiles;
import dma.models.ImageClassifier;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Hybrids for incubation, module checkpoints and the assembly of the target from them (DESIGN §6.3–6.4). */
public final class Assembly {
    private Assembly() {}

    /**
     * Builds hybrid(i): module i freshly initialized from {@code seed} and trainable; every other tensor
     * loaded from the meta model's state and frozen (no gradient, no weight-gradient work, no tape for
     * the prefix since nothing in it requires a gradient).
     */
    public static ImageClassifier hybrid(Partition p, int i, Map<String, Tensor> metaState, String metaOrigin, Backend be, long seed,
                                         java.util.function.UnaryOperator<dma.models.Architecture> adjust) {
        ImageClassifier model = adjust.apply(p.hybrid(i)).build(be, seed);
        LinkedHashMap<String, Tensor> params = model.parameters();
        for (var e : model.stateDict().entrySet()) {
            String key = e.getKey();
            if (p.moduleOfHybrid(i, key) == i) continue;
            String metaKey = p.metaKeyOfHybrid(i, key);
            Tensor src = metaState.get(metaKey);
            if (src == null) throw new IllegalArgumentException(metaOrigin + ": missing tensor '" + metaKey + "' (needed for '" + key + "' of hybrid " + i + ")");
            if (!java.util.Arrays.equals(src.shape(), e.getValue().shape()))
                throw new IllegalArgumentException(metaOrigin + ": tensor '" + metaKey + "' has shape " + src.shapeString()
                        + " but hybrid " + i + " expects " + e.getValue().shapeString() + " for '" + key + "'");
            e.getValue().copyFrom(src);
            if (params.containsKey(key)) e.getValue().requiresGrad(false);
        }
        return model;
    }

    /** Sets module i of a hybrid to the module's tensors of a target model's state (e.g. weights selected for the target). */
    public static void initModule(Partition p, int i, ImageClassifier hybrid, Map<String, Tensor> targetState, String origin) {
        for (var e : hybrid.stateDict().entrySet()) {
            if (p.moduleOfHybrid(i, e.getKey()) != i) continue;
            String key = p.targetKeyOfHybrid(i, e.getKey());
            Tensor src = targetState.get(key);
            if (src == null) throw new IllegalArgumentException(origin + ": missing tensor '" + key + "' (needed for module " + i + ")");
            e.getValue().copyFrom(src);
        }
    }

    /** Module i's tensors of a hybrid, under the target model's names (the hybrid's own tensors, not copies). */
    public static LinkedHashMap<String, Tensor> moduleState(Partition p, int i, ImageClassifier hybrid) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (var e : hybrid.stateDict().entrySet())
            if (p.moduleOfHybrid(i, e.getKey()) == i) out.put(p.targetKeyOfHybrid(i, e.getKey()), e.getValue());
        return out;
    }

    /** Module i's tensors of a target model's state (the target's own tensors). */
    public static LinkedHashMap<String, Tensor> split(Partition p, int i, Map<String, Tensor> targetState) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        targetState.forEach((k, v) -> {
            if (p.moduleOfTarget(k) == i) out.put(k, v);
        });
        return out;
    }

    /**
     * The union of K module states, checked to cover every key of the target exactly once with the
     * right shapes and module: a missing, duplicated, misplaced or unknown key is an error that names
     * the key and the origin (file) it came from or should have come from.
     */
    public static LinkedHashMap<String, Tensor> assemble(Partition p, List<? extends Map<String, Tensor>> modules, List<String> origins,
                                                         Map<String, Tensor> targetShapes) {
        if (modules.size() != p.modules())
            throw new IllegalArgumentException("assembly needs " + p.modules() + " module checkpoints, got " + modules.size());
        Map<String, String> seenIn = new HashMap<>();
        LinkedHashMap<String, Tensor> union = new LinkedHashMap<>();
        for (int i = 0; i < modules.size(); i++) {
            String origin = origins.get(i);
            for (var e : modules.get(i).entrySet()) {
                String key = e.getKey();
                Tensor expected = targetShapes.get(key);
                if (expected == null) throw new IllegalArgumentException(origin + ": tensor '" + key + "' is not part of the target model");
                String before = seenIn.put(key, origin);
                if (before != null) throw new IllegalArgumentException("tensor '" + key + "' appears twice: in " + before + " and in " + origin);
                if (p.moduleOfTarget(key) != i)
                    throw new IllegalArgumentException(origin + ": tensor '" + key + "' belongs to module " + p.moduleOfTarget(key) + ", not module " + i);
                if (!java.util.Arrays.equals(expected.shape(), e.getValue().shape()))
                    throw new IllegalArgumentException(origin + ": tensor '" + key + "' has shape " + e.getValue().shapeString()
                            + " but the target expects " + expected.shapeString());
                union.put(key, e.getValue());
            }
        }
        for (String key : targetShapes.keySet())
            if (!seenIn.containsKey(key))
                throw new IllegalArgumentException("tensor '" + key + "' is missing: module " + p.moduleOfTarget(key) + " ("
                        + origins.get(p.moduleOfTarget(key)) + ") should hold it");
        // the target's key order, so assembled checkpoints look like the target's own
        LinkedHashMap<String, Tensor> ordered = new LinkedHashMap<>();
        for (String key : targetShapes.keySet()) ordered.put(key, union.get(key));
        return ordered;
    }

    /** Loads K module checkpoint files and assembles them into {@code target} (whose shapes are the reference). */
    public static void assembleFiles(Partition p, List<Path> files, ImageClassifier target, Backend be) {
        List<Map<String, Tensor>> states = new ArrayList<>();
        List<String> origins = new ArrayList<>();
        try {
            for (Path f : files) {
                states.add(TensorFiles.load(f, be));
                origins.add(f.toString());
            }
            LinkedHashMap<String, Tensor> assembled = assemble(p, states, origins, target.stateDict());
            target.load(assembled, "assembled modules", true);
        } finally {
            states.forEach(m -> m.values().forEach(Tensor::close));
        }
    }
}
