package dma.models;

import dma.engine.Rng;
import dma.engine.Tensor;
import dma.models.nn.Module;

/** A model from images [N, C, H, W] to logits [N, classes]. */
public abstract class ImageClassifier extends Module {
    /** {@code rng} supplies stochastic masks (drop path) in train mode; it may be null otherwise. */
    public abstract Tensor forward(Tensor images, Rng rng);

    public abstract Architecture architecture();
}
