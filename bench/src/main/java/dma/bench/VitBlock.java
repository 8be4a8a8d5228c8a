package dma.bench;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.ops.AttentionOp;
import dma.engine.ops.Elementwise;
import dma.engine.ops.Linalg;
import dma.engine.ops.Norm;
import dma.engine.ops.Shape;

import java.util.ArrayList;
import java.util.List;

/**
 * One pre-norm ViT block (timm's Block, no dropout or drop path) written functionally on the engine's ops,
 * the same computation as the peer's: x + proj(attn(LN₁(x))), then + fc2(GELU(fc1(LN₂(x)))).
 * The benchmark workload independent of the models module's layers.
 */
public final class VitBlock implements AutoCloseable {
    final int width, heads;
    private final List<Tensor> params = new ArrayList<>();
    private final Tensor ln1w, ln1b, qkvW, qkvB, projW, projB, ln2w, ln2b, fc1W, fc1B, fc2W, fc2B;

    public VitBlock(Backend be, long seed, int width, int heads) {
        if (width % heads != 0) throw new IllegalArgumentException("width " + width + " is not a multiple of heads " + heads);
        this.width = width;
        this.heads = heads;
        Rng rng = new Rng(seed);
        ln1w = param(Tensor.full(be, 1f, width));
        ln1b = param(Tensor.zeros(be, width));
        qkvW = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.02f, 3 * width, width));
        qkvB = param(Tensor.zeros(be, 3 * width));
        projW = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.02f, width, width));
        projB = param(Tensor.zeros(be, width));
        ln2w = param(Tensor.full(be, 1f, width));
        ln2b = param(Tensor.zeros(be, width));
        fc1W = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.02f, 4 * width, width));
        fc1B = param(Tensor.zeros(be, 4 * width));
        fc2W = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.02f, width, 4 * width));
        fc2B = param(Tensor.zeros(be, width));
    }

    private Tensor param(Tensor t) {
        t.keep().requiresGrad(true);
        params.add(t);
        return t;
    }

    /** x [b, t, width] → [b, t, width]. */
    public Tensor forward(Tensor x) {
        int b = x.dim(0), t = x.dim(1), hd = width / heads;
        Tensor qkv = Linalg.linear(Norm.layerNorm(x, ln1w, ln1b, 1e-6f), qkvW, qkvB).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4);
        Tensor q = Shape.slice(qkv, 0, 0, 1).reshape(b, heads, t, hd);
        Tensor k = Shape.slice(qkv, 0, 1, 1).reshape(b, heads, t, hd);
        Tensor v = Shape.slice(qkv, 0, 2, 1).reshape(b, heads, t, hd);
        Tensor a = AttentionOp.attention(q, k, v, (float) (1.0 / Math.sqrt(hd))).permute(0, 2, 1, 3).reshape(b, t, width);
        x = x.add(Linalg.linear(a, projW, projB));
        Tensor m = Elementwise.gelu(Linalg.linear(Norm.layerNorm(x, ln2w, ln2b, 1e-6f), fc1W, fc1B));
        return x.add(Linalg.linear(m, fc2W, fc2B));
    }

    /**
     * One training step's compute: gradients zeroed, forward, backward of the sum of outputs, temporaries
     * freed with the step's scope. {@code x} should require a gradient, as a block inside a ViT passes one on.
     */
    public void step(Tensor x) {
        for (Tensor p : params) p.zeroGrad();
        x.zeroGrad();
        try (Scope s = Scope.open()) {
            forward(x).sumAll().backward();
        }
    }

    @Override
    public void close() {
        for (Tensor p : params) p.close();
    }
}
