package dma.engine;

/**
 * Mixed precision, as PyTorch's autocast: inside {@link #bf16()} the matrix products (matmul, linear, the
 * convolution GEMMs, attention's products) read bfloat16 copies of their operands and accumulate in float32;
 * everything else (normalization, softmax, losses, optimizer state, the weights themselves) stays float32.
 * Per thread, like {@link GradMode}.
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
