package dma.models;

import dma.engine.Rng;
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

    public abstract int numBlocks();

    /** Images → the features the first block reads. */
    public abstract Tensor forwardStem(Tensor images);

    public abstract Tensor forwardBlock(int index, Tensor x, Rng rng);

    /** The last block's features → logits. */
    public abstract Tensor forwardHead(Tensor x);

    public abstract Architecture architecture();
}
