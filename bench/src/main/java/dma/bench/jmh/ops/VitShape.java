package dma.bench.jmh.ops;

import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * The activations of one step of DESIGN §5's ViT: batch 64 × 50 tokens (7×7 patches of a 28×28 image and
 * the class token), width 192, 3 heads (head width 64), MLP ×4 (768).
 */
@State(Scope.Thread)
public abstract class VitShape extends OpBench {
    @Param("64")
    public int batch;
    @Param("50")
    public int tokens;
    @Param("192")
    public int width;
    @Param("3")
    public int heads;
    @Param("4")
    public int mlpRatio;

    /** Token rows of the step: batch × tokens. */
    int rows() {
        return batch * tokens;
    }

    int headWidth() {
        if (width % heads != 0) throw new IllegalArgumentException("width " + width + " is not a multiple of heads " + heads);
        return width / heads;
    }
}
