package dma.models;

import dma.engine.GradMode;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.models.nn.Module;

/**
 * A model from images [N, C, H, W] to logits [N, classes], seen as stem → blocks → head so that stages can
 * run parts of it (a frozen prefix, one module, the meta block a module imitates).
 */
public abstract class ImageClassifier extends Module {
    /** {@code rng} supplies stochastic masks (drop path) in train mode; it may be null otherwise. */
    public Tensor forward(Tensor images, Rng rng) {
        Tensor x = forwardStem(images);
        for (int i = 0; i < numBlocks(); i++) x = forwardBlock(i, x, rng);
        return forwardHead(x);
    }

    /**
     * {@link #forward} for a model whose stem and first {@code frozenBlocks} blocks are frozen (an incubation hybrid's
     * meta prefix): that prefix runs without the tape in a scope of its own, so nothing of it is recorded and its
     * activations are freed before the rest runs; only its output is kept. With 0 the stem is trainable and this is
     * {@code forward}. Same values and the same random draws as {@code forward}: one rng, blocks in order.
     */
    public Tensor forwardFrozenPrefix(Tensor images, int frozenBlocks, Rng rng) {
        Tensor x;
        if (frozenBlocks == 0) x = forwardStem(images);
        else
            try (GradMode off = GradMode.disabled(); Scope prefix = Scope.open()) {
                x = forwardStem(images);
                for (int i = 0; i < frozenBlocks; i++) x = forwardBlock(i, x, rng);
                x.keep();
            }
        for (int i = frozenBlocks; i < numBlocks(); i++) x = forwardBlock(i, x, rng);
        return forwardHead(x);
    }

    public abstract int numBlocks();

    /** Images → the features the first block reads. */
    public abstract Tensor forwardStem(Tensor images);

    public abstract Tensor forwardBlock(int index, Tensor x, Rng rng);

    /** The last block's features → logits. */
    public abstract Tensor forwardHead(Tensor x);

    public abstract Architecture architecture();
}
