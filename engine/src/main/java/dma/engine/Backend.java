package dma.engine;

import dma.engine.kernels.Attention;
import dma.engine.kernels.Blas;
import dma.engine.kernels.Convolution;
import dma.engine.kernels.Elementwise;
import dma.engine.kernels.Layout;
import dma.engine.kernels.Losses;
import dma.engine.kernels.Normalization;
import dma.engine.kernels.Optim;
import dma.engine.kernels.Reductions;

/**
 * A device: its memory and its kernels. Both the CPU reference and CUDA implement it; the op
 * front-ends in {@code dma.engine.ops} are written once against it.
 */
public interface Backend {
    String name();

    /** Uninitialized memory of at least {@code bytes}; counted in {@link #memory()} until freed. */
    Storage allocate(long bytes);

    /** Returns a storage to the allocator (called when its last reference is released). */
    void free(Storage storage);

    MemoryStats memory();

    /** Drops the allocator's cached blocks. */
    void emptyCache();

    void zero(Storage storage);

    void copy(Storage src, Storage dst, long bytes);

    /** Host → device: {@code src} into dst starting at element {@code dstOffset} (float32). */
    void upload(float[] src, Storage dst, int dstOffset);

    /** Device → host: {@code dst.length} float32 elements from element {@code srcOffset}. */
    void download(Storage src, int srcOffset, float[] dst);

    void uploadBytes(byte[] src, Storage dst);

    byte[] downloadBytes(Storage src, long bytes);

    /**
     * Floats an op may take for a chunked workspace (conv2d's im2col): the CPU wants it to stay in cache between the
     * passes that write and read it, a GPU wants few large launches.
     */
    default int workspaceFloats() {
        return 1 << 20;
    }

    /** Waits until queued work is done (no-op on the CPU). */
    void synchronize();

    Blas blas();

    Elementwise elementwise();

    Reductions reductions();

    Layout layout();

    Convolution convolution();

    Normalization normalization();

    Losses losses();

    Attention attention();

    Optim optim();
}
