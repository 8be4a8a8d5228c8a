package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.Architecture;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Training FLOPs per image of every kind of step a run takes, as the project counts them ({@link Flops}: forward,
 * input-gradient and weight-gradient work of the matrix products, frozen parts at what they really cost), measured by
 * one training step on one image of each model with the stages' own objectives. Every count is linear in the batch,
 * so FLOPs per image times images trained is a stage's cost; evaluation is not training cost and is not counted.
 *
 * @param target    an E2E or fine-tuning step of the target
 * @param meta      a step of the meta model
 * @param incubate  a step of hybrid i with the task loss (incubation; DistData's steps are the same)
 * @param imitate   a step of hybrid i with Module Imitation's loss (the frozen meta model's forward included)
 */
public record Costs(long target, long meta, List<Long> incubate, List<Long> imitate) {
    /** Counts one step of each model of the plan's target and partition, on one image (random weights: counts do not depend on them). */
    public static Costs probe(Architecture target, Partition p) {
        Backend be = CpuBackend.get();
        Architecture plain = target.withDropPath(0); // drop path changes masks, not products; without it no branch is skipped by chance
        long t, m;
        List<Long> inc = new ArrayList<>(), imi = new ArrayList<>();
        try (ImageClassifier model = plain.build(be, 1)) {
            t = step(be, model, Objectives.task(0f));
        }
        try (ImageClassifier meta = p.meta().withDropPath(0).build(be, 2)) {
            m = step(be, meta, Objectives.task(0f));
            for (int i = 0; i < p.modules(); i++) {
                try (ImageClassifier hybrid = Assembly.hybrid(p, i, meta.stateDict(), "the meta model", be, 3, a -> a.withDropPath(0))) {
                    inc.add(step(be, hybrid, Objectives.incubation(p, i, 0f)));
                    imi.add(step(be, hybrid, Objectives.imitation(p, i, meta)));
                }
            }
        }
        return new Costs(t, m, List.copyOf(inc), List.copyOf(imi));
    }

    /** The FLOPs of one training step on one random image (model in train mode, its trainable tensors' gradients dropped after). */
    private static long step(Backend be, ImageClassifier model, StageRunner.Objective objective) {
        model.train(true);
        Architecture a = model.architecture();
        int[] shape = a.inputShape(1);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.normal(be, 7, 0f, 1f, shape);
            float[] onehot = new float[a.numClasses()];
            onehot[0] = 1f;
            Tensor y = Tensor.of(be, onehot, 1, a.numClasses());
            Flops.Count before = Flops.now();
            objective.loss(model, x, y, new Rng(11)).backward();
            long flops = Flops.now().minus(before).total();
            model.parameters().values().forEach(Tensor::zeroGrad);
            return flops;
        }
    }

    /** One training step's FLOPs per image of module i of a method (DistData trains the incubation hybrid). */
    public long module(ModuleMethod method, int i) {
        return method == ModuleMethod.IMITATE ? imitate.get(i) : incubate.get(i);
    }

    /** The sum over the K modules of a method's per-image step FLOPs: one epoch of every module costs this per training image. */
    public long modules(ModuleMethod method) {
        long sum = 0;
        for (int i = 0; i < incubate.size(); i++) sum += module(method, i);
        return sum;
    }

    /**
     * The epochs of each recipe key that a budget gives: E2E trains {@code e2eEpochs}; every module method costs as
     * much in all, its meta model, modules and fine-tuning taking the given shares of it (every module of a method the
     * same epochs, as the paper's schedules; DistData's modules the same steps as incubation's).
     */
    public Map<String, Double> epochs(double e2eEpochs, double metaShare, double modulesShare, double finetuneShare) {
        double budget = e2eEpochs * target; // FLOPs per training image
        Map<String, Double> e = new LinkedHashMap<>();
        e.put(StageId.E2E.recipeKey(), e2eEpochs);
        e.put(StageId.META.recipeKey(), metaShare * budget / meta);
        for (ModuleMethod m : ModuleMethod.values()) e.put(m.command, modulesShare * budget / modules(m));
        e.put(StageId.finetune(ModuleMethod.INCUBATE).recipeKey(), finetuneShare * budget / target);
        return e;
    }

    /**
     * What each method costs per image of the training set (FLOPs; times the training images, the method's training
     * FLOPs), given each recipe key's epochs: E2E its epochs of the target; a module method the meta model, its K
     * modules and the fine-tuning of its assembly.
     */
    public Map<String, Double> perTrainingImage(java.util.function.ToDoubleFunction<StageId> epochs, List<ModuleMethod> methods, boolean e2e) {
        Map<String, Double> c = new LinkedHashMap<>();
        for (ModuleMethod m : methods) {
            double cost = epochs.applyAsDouble(StageId.META) * meta + epochs.applyAsDouble(StageId.finetune(m)) * target;
            for (int i = 0; i < incubate.size(); i++) cost += epochs.applyAsDouble(StageId.module(m, i)) * module(m, i);
            c.put(m.summaryName, cost);
        }
        if (e2e) c.put(StageId.E2E.summaryMethod(), epochs.applyAsDouble(StageId.E2E) * target);
        return c;
    }
}
