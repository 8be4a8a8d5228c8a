package dma.trainer.stage;

import dma.engine.GradMode;
import dma.engine.Tensor;
import dma.engine.ops.LossesOps;
import dma.models.ImageClassifier;
import dma.models.assemble.Partition;

/** The losses the stages train with: one place, for the stages and for the cost probe that counts their FLOPs. */
final class Objectives {
    private Objectives() {}

    /** The task loss: cross-entropy with the batch's soft targets and label smoothing. */
    static StageRunner.Objective task(float smoothing) {
        return (model, x, y, rng) -> LossesOps.crossEntropy(model.forward(x, rng), y, smoothing);
    }

    /**
     * The task loss of the hybrid for module i (incubation, DistData): the frozen meta prefix before module i runs
     * without the tape and is freed at once ({@link ImageClassifier#forwardFrozenPrefix}); the frozen suffix after it
     * is recorded, and its backward computes input gradients only.
     */
    static StageRunner.Objective incubation(Partition p, int i, float smoothing) {
        int prefix = p.metaOffset(i);
        return (hybrid, x, y, rng) -> LossesOps.crossEntropy(hybrid.forwardFrozenPrefix(x, prefix, rng), y, smoothing);
    }

    /**
     * Module Imitation's loss: mean |M_i(h) − M̂_i(h)| with h the frozen meta prefix's output and M̂_i meta module i (its
     * one block, or its blocks when the meta model is deeper, {@link Partition#withMetaDepth}). Module 0 also owns the
     * stem, so it reads the images; the last module owns the head, so it matches the meta logits. {@code meta} is put
     * in eval mode and frozen.
     */
    static StageRunner.Objective imitation(Partition p, int i, ImageClassifier meta) {
        meta.train(false);
        meta.setTrainable(false);
        int k = p.modules(), d = p.depths()[i], start = p.metaOffset(i), metaD = p.metaDepths()[i];
        return (hybrid, x, y, rng) -> {
            Tensor h, target;
            try (var off = GradMode.disabled()) {
                h = i == 0 ? x : meta.forwardStem(x);
                for (int j = 0; j < start; j++) h = meta.forwardBlock(j, h, null);
                target = i == 0 ? meta.forwardStem(x) : h;
                for (int j = 0; j < metaD; j++) target = meta.forwardBlock(start + j, target, null);
                if (i == k - 1) target = meta.forwardHead(target);
            }
            Tensor out = i == 0 ? hybrid.forwardStem(h) : h;
            for (int j = 0; j < d; j++) out = hybrid.forwardBlock(start + j, out, rng);
            if (i == k - 1) out = hybrid.forwardHead(out);
            return LossesOps.l1(out, target);
        };
    }
}
