package dma.engine.cuda;

import dma.engine.Backend;
import dma.engine.Storage;
import jcuda.driver.CUdeviceptr;

/** A block of device memory from {@link CudaAllocator}; {@code capacity} is the bucket it came from (≥ the bytes asked for). */
final class CudaStorage extends Storage {
    final CudaBackend backend;
    final CUdeviceptr ptr;
    final long capacity;

    CudaStorage(CudaBackend backend, CUdeviceptr ptr, long bytes, long capacity) {
        super(bytes);
        this.backend = backend;
        this.ptr = ptr;
        this.capacity = capacity;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    /** The device address of byte {@code byteOffset}. */
    CUdeviceptr at(long byteOffset) {
        return byteOffset == 0 ? ptr : ptr.withByteOffset(byteOffset);
    }
}
