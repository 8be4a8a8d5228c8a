package dma.models.vit;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.ops.ElementwiseOps;
import dma.models.nn.Linear;
import dma.models.nn.Module;

/** fc1 → exact GELU → fc2. */
public final class Mlp extends Module {
    final Linear fc1, fc2;

    public Mlp(Backend be, long seed, int dim, int hidden) {
        fc1 = child("fc1", new Linear(be, seed, dim, hidden, true));
        fc2 = child("fc2", new Linear(be, seed + 1, hidden, dim, true));
    }

    public Tensor forward(Tensor x) {
        return fc2.forward(ElementwiseOps.gelu(fc1.forward(x)));
    }
}
