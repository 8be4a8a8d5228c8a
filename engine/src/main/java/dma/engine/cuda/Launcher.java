package dma.engine.cuda;

/**
 * Where the kernel families queue their kernels: the device, or (in tests without a GPU) a recorder that checks
 * each launch against the compiled kernels' signatures without running it.
 */
interface Launcher {
    /**
     * Queues {@code module.kernel<<<(gridX, gridY), block, sharedBytes>>>(args)}. Arguments: CUdeviceptr (or null: a
     * null pointer, a skipped gradient), Integer, Long, Float, Double, Boolean (passed as int).
     */
    void launch(String module, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args);

    /** Streaming multiprocessors: grids are sized to keep each busy. */
    int multiprocessors();

    /** A grid of 1-D blocks that covers n elements, capped at what keeps every multiprocessor busy (kernels loop). */
    default int blocksFor(long n, int block) {
        long needed = (n + block - 1) / block;
        return (int) Math.max(1, Math.min(needed, (long) multiprocessors() * 32));
    }
}
