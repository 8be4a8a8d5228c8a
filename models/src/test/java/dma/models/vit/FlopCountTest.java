package dma.models.vit;

import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.ops.LossesOps;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Counted FLOPs of a ViT training step against the analytic count, for the full model and a hybrid with frozen parts. */
class FlopCountTest {
    private final Backend be = CpuBackend.get();
    private static final int B = 3, IMG = 8, P = 4, C = 2, D = 12, H = 3, CLASSES = 5;
    private static final long L = (IMG / P) * (IMG / P), T = L + 1, F = 4 * D;

    /** Forward FLOPs of one block, of the patch embedding and of the head. */
    private static long block() {
        return 2 * B * T * D * 3 * D + 4 * B * T * T * D + 2 * B * T * D * D + 2 * B * T * D * F + 2 * B * T * F * D;
    }

    private static long blockLinears() {
        return block() - 4 * B * T * T * D;
    }

    private static final long PATCH = 2L * D * C * P * P * B * L, HEAD = 2L * B * D * CLASSES;

    private Flops.Count step(ImageClassifier m) {
        try (Scope s = Scope.open()) {
            Flops.Count before = Flops.now();
            Tensor x = Tensor.normal(be, 1, 0f, 1f, B, C, IMG, IMG);
            LossesOps.crossEntropy(m.forward(x, new Rng(1)), new int[]{0, 1, 2}, 0f).backward();
            return Flops.now().minus(before);
        }
    }

    @Test
    void fullModelStep() {
        int depth = 3;
        try (ImageClassifier m = new ViTConfig(IMG, P, C, CLASSES, D, depth, H, 4, 0).build(be, 1)) {
            Flops.Count c = step(m);
            assertEquals(PATCH + depth * block() + HEAD, c.forward());
            // every weight gradient costs its forward product; the images need no gradient
            assertEquals(PATCH + depth * blockLinears() + HEAD, c.weightGrad());
            // input gradients: every linear but the patch embedding, and attention's four backward products
            assertEquals(depth * (blockLinears() + 8 * B * T * T * D) + HEAD, c.inputGrad());
        }
    }

    @Test
    void hybridCountsFrozenPartsAsWhatTheyCost() {
        ViTConfig target = new ViTConfig(IMG, P, C, CLASSES, D, 4, H, 4, 0);
        Partition p = Partition.of(target, 1, 2, 1);
        try (ImageClassifier meta = p.meta().build(be, 2); ImageClassifier hybrid = Assembly.hybrid(p, 1, meta.stateDict(), "meta", be, 3, a -> a)) {
            Flops.Count c = step(hybrid);
            assertEquals(PATCH + 4 * block() + HEAD, c.forward());
            // only module 1 (two blocks) has trainable weights
            assertEquals(2 * blockLinears(), c.weightGrad());
            // the frozen suffix (block 3 and the head) and module 1 pass input gradients; the frozen prefix has no tape
            assertEquals(3 * (blockLinears() + 8 * B * T * T * D) + HEAD, c.inputGrad());
        }
    }
}
