package dma.bench;

import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.models.vit.Block;

/**
 * The benchmark workload: one pre-norm ViT block of the models module (timm's Block, MLP ×4, no drop
 * path), the same computation as the peer's: x + proj(attn(LN₁(x))), then + fc2(GELU(fc1(LN₂(x)))).
 */
public final class VitBlock implements AutoCloseable {
    private final Block block;

    public VitBlock(Backend be, long seed, int width, int heads) {
        if (width % heads != 0) throw new IllegalArgumentException("width " + width + " is not a multiple of heads " + heads);
        block = new Block(be, seed, width, heads, 4 * width, 0.0);
    }

    /** x [b, t, width] → [b, t, width]. */
    public Tensor forward(Tensor x) {
        return block.forward(x, null);
    }

    /**
     * One training step's compute: gradients zeroed, forward, backward of the sum of outputs, temporaries
     * freed with the step's scope. {@code x} should require a gradient, as a block inside a ViT passes one on.
     */
    public void step(Tensor x) {
        block.parameters().values().forEach(Tensor::zeroGrad);
        x.zeroGrad();
        try (Scope s = Scope.open()) {
            forward(x).sumAll().backward();
        }
    }

    @Override
    public void close() {
        block.close();
    }
}
