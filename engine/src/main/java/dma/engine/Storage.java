package dma.engine;

/**
 * A block of device memory owned by one backend. Tensors that share it (reshape views) hold a
 * reference each; the last release hands it back to the backend's allocator.
 */
public abstract class Storage {
    private final long bytes;
    private int refs = 1;

    protected Storage(long bytes) {
        this.bytes = bytes;
    }

    public abstract Backend backend();

    public final long bytes() {
        return bytes;
    }

    final synchronized void retain() {
        if (refs <= 0) throw new IllegalStateException("storage already released");
        refs++;
    }

    final void release() {
        boolean free;
        synchronized (this) {
            if (refs <= 0) throw new IllegalStateException("storage released twice");
            free = --refs == 0;
        }
        if (free) backend().free(this);
    }

    public final synchronized boolean isLive() {
        return refs > 0;
    }
}
