package dma.engine;

/**
 * Mixed precision, as PyTorch's autocast: inside {@link #bf16()} the matrix products (matmul, linear, the
 * convolution GEMMs, and so the composed attention's products) read bfloat16 copies of their operands and
 * accumulate in float32 into float32 results, in forward and in backward (the output gradient is cast too);
 * everything else (normalization, softmax, losses, optimizer state, the weights and their gradients) stays
 * float32. The fused attention kernel ({@code AttentionOps.attention}) stays float32 as well. An op decides when
 * its forward runs, so its backward uses the same precision wherever backward is called. Per thread, like
 * {@link GradMode}.
 */
public final class Autocast {
    private static final ThreadLocal<Boolean> BF16 = ThreadLocal.withInitial(() -> false);

    private Autocast() {}

    public static boolean isBf16() {
        return BF16.get();
    }

    /** Enables bf16 autocast until the returned handle is closed (restoring the previous mode). */
    public static Region bf16() {
        boolean previous = BF16.get();
        BF16.set(true);
        return () -> BF16.set(previous);
    }

    /** The handle {@link #bf16()} returns. */
    public interface Region extends AutoCloseable {
        @Override
        void close();
    }
}
