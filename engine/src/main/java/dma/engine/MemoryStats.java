package dma.engine;

import java.util.concurrent.atomic.AtomicLong;

/** Counters every allocator keeps: bytes held by live tensors, their peak, and what the cache holds. */
public final class MemoryStats {
    private final AtomicLong live = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();
    private final AtomicLong cached = new AtomicLong();
    private final AtomicLong allocations = new AtomicLong();
    private final AtomicLong cacheHits = new AtomicLong();

    public void onAllocate(long bytes, boolean fromCache) {
        long now = live.addAndGet(bytes);
        peak.accumulateAndGet(now, Math::max);
        allocations.incrementAndGet();
        if (fromCache) {
            cacheHits.incrementAndGet();
            cached.addAndGet(-bytes);
        }
    }

    public void onFree(long bytes, boolean toCache) {
        live.addAndGet(-bytes);
        if (toCache) cached.addAndGet(bytes);
    }

    public void onCacheDrop(long bytes) {
        cached.addAndGet(-bytes);
    }

    /** Bytes held by storages that have not been released. */
    public long liveBytes() { return live.get(); }
    public long peakBytes() { return peak.get(); }
    public long cachedBytes() { return cached.get(); }
    public long allocations() { return allocations.get(); }
    public long cacheHits() { return cacheHits.get(); }

    public void resetPeak() { peak.set(live.get()); }

    @Override
    public String toString() {
        return String.format("live %.1f MiB, peak %.1f MiB, cached %.1f MiB, %d allocations (%d from cache)",
                liveBytes() / 1048576.0, peakBytes() / 1048576.0, cachedBytes() / 1048576.0, allocations(), cacheHits());
    }
}
