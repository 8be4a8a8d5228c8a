package dma.models.nn;

import dma.engine.Backend;
import dma.engine.Tensor;

/** Initializers with PyTorch's and timm's conventions, from the counter-based generator. */
public final class Init {
    private Init() {}

    /** Normal(0, std) truncated to [−2, 2] (absolute, as timm's trunc_normal_). */
    public static Tensor truncNormal(Backend be, long seed, float std, int... shape) {
        Tensor t = Tensor.empty(be, shape);
        be.elementwise().randomNormal(t.storage(), t.numel(), seed, 0f, std, -2f, 2f);
        return t;
    }

    /** U(−1/√fanIn, 1/√fanIn): PyTorch's default for Conv2d and Linear (kaiming_uniform with a = √5, and their biases). */
    public static Tensor torchDefault(Backend be, long seed, int fanIn, int... shape) {
        float bound = (float) (1.0 / Math.sqrt(fanIn));
        return Tensor.uniform(be, seed, -bound, bound, shape);
    }

    /** Normal(0, √(2/fanIn)): kaiming_normal_ (ResNets). */
    public static Tensor kaimingNormal(Backend be, long seed, int fanIn, int... shape) {
        return Tensor.normal(be, seed, 0f, (float) Math.sqrt(2.0 / fanIn), shape);
    }
}
