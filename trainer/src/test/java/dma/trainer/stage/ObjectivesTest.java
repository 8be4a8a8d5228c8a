package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import dma.models.vit.ViTConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The module losses read the right blocks of a meta model with more than one block per module. */
class ObjectivesTest {
    private final Backend be = CpuBackend.get();
    // depth 4 cut into modules of 2 blocks, meta model of 4 blocks: each hybrid has the meta model's shape
    private final ViTConfig vit = new ViTConfig(8, 4, 1, 3, 8, 4, 2, 2, 0.0);
    private final Partition p = Partition.of(vit, 2, 2).withMetaDepth(4);

    /** A module holding its meta module's own weights imitates it exactly; a different one does not. */
    @Test
    void imitationMatchesTheWholeMetaModule() {
        try (ImageClassifier meta = p.meta().build(be, 5)) {
            for (int i = 0; i < p.modules(); i++) {
                StageRunner.Objective imitation = Objectives.imitation(p, i, meta);
                try (ImageClassifier hybrid = Assembly.hybrid(p, i, meta.stateDict(), "meta", be, 6, a -> a)) {
                    assertTrue(loss(imitation, hybrid) > 1e-3, "module " + i + " from random init differs from its meta module");
                    hybrid.load(meta.stateDict(), "meta", true);
                    assertEquals(0.0, loss(imitation, hybrid), 0.0, "module " + i + " with the meta module's weights");
                }
            }
        }
    }

    /** Incubation's loss is the hybrid's forward pass, and every tensor of module i gets a gradient through it. */
    @Test
    void incubationTrainsTheModuleBehindTheMetaPrefix() {
        try (ImageClassifier meta = p.meta().build(be, 5)) {
            for (int i = 0; i < p.modules(); i++)
                try (ImageClassifier hybrid = Assembly.hybrid(p, i, meta.stateDict(), "meta", be, 6, a -> a); Scope s = Scope.open()) {
                    Tensor x = Tensor.normal(be, 7, 0f, 1f, 3, 1, 8, 8);
                    Tensor y = Tensor.of(be, new float[]{1, 0, 0, 0, 1, 0, 0, 0, 1}, 3, 3);
                    Tensor loss = Objectives.incubation(p, i, 0f).loss(hybrid, x, y, new Rng(1));
                    assertEquals(dma.engine.ops.LossesOps.crossEntropy(hybrid.forward(x, new Rng(1)), y, 0f).item(), loss.item(), 1e-6);
                    loss.backward();
                    for (var e : hybrid.trainableParameters().entrySet()) assertNotNull(e.getValue().grad(), "module " + i + ": " + e.getKey());
                    hybrid.parameters().values().forEach(Tensor::zeroGrad);
                }
        }
    }

    private static double loss(StageRunner.Objective o, ImageClassifier hybrid) {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.normal(CpuBackend.get(), 3, 0f, 1f, 4, 1, 8, 8);
            return o.loss(hybrid, x, null, new Rng(2)).item();
        }
    }
}
