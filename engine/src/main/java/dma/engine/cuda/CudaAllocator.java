package dma.engine.cuda;

import dma.engine.MemoryStats;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;

/**
 * A caching device allocator. cuMemAlloc/cuMemFree synchronize the device and cost tens of microseconds,
 * so freed blocks stay in per-size free lists and the next request of the same bucket reuses one. Sizes
 * are rounded up to buckets (512 B under 1 MiB, 2 MiB above) so a training step's shapes map to a few
 * lists. All work runs on one stream, so a block freed on the host can be handed out again at once: the
 * stream orders its last use before its next. On out-of-memory the cache is released and the call retried.
 */
final class CudaAllocator {
    private static final long SMALL = 1L << 20, SMALL_STEP = 512, LARGE_STEP = 2L << 20;

    private final CudaDevice device;
    private final MemoryStats stats = new MemoryStats();
    private final Map<Long, ArrayDeque<CUdeviceptr>> cache = new HashMap<>();

    CudaAllocator(CudaDevice device) {
        this.device = device;
    }

    static long bucket(long bytes) {
        long b = Math.max(bytes, 1);
        long step = b < SMALL ? SMALL_STEP : LARGE_STEP;
        return (b + step - 1) / step * step;
    }

    MemoryStats stats() {
        return stats;
    }

    CUdeviceptr allocate(long bytes) {
        long size = bucket(bytes);
        synchronized (this) {
            ArrayDeque<CUdeviceptr> free = cache.get(size);
            if (free != null && !free.isEmpty()) {
                stats.onAllocate(size, true);
                return free.pop();
            }
        }
        device.makeCurrent();
        CUdeviceptr p = new CUdeviceptr();
        int r = cuMemAlloc(p, size);
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            emptyCache();
            r = cuMemAlloc(p, size);
            if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
                throw new OutOfMemoryError("cuda: out of device memory allocating " + size + " bytes after releasing the cache ("
                        + stats + ", " + device.describeMemory() + ")");
        }
        CudaDevice.check(r, "cuMemAlloc(" + size + " bytes)");
        stats.onAllocate(size, false);
        return p;
    }

    synchronized void free(CUdeviceptr p, long capacity) {
        cache.computeIfAbsent(capacity, k -> new ArrayDeque<>()).push(p);
        stats.onFree(capacity, true);
    }

    synchronized void emptyCache() {
        device.makeCurrent();
        device.synchronize();
        for (var e : cache.entrySet()) {
            for (CUdeviceptr p : e.getValue()) {
                CudaDevice.check(cuMemFree(p), "cuMemFree");
                stats.onCacheDrop(e.getKey());
            }
        }
        cache.clear();
    }
}
