package dma.engine.cpu;

import dma.engine.Backend;
import dma.engine.MemoryStats;
import dma.engine.Storage;
import dma.engine.kernels.Attention;
import dma.engine.kernels.Blas;
import dma.engine.kernels.Convolution;
import dma.engine.kernels.Elementwise;
import dma.engine.kernels.Layout;
import dma.engine.kernels.Losses;
import dma.engine.kernels.Normalization;
import dma.engine.kernels.Optim;
import dma.engine.kernels.Reductions;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reference backend and the embedded default: plain Java kernels over off-heap buffers,
 * OpenBLAS sgemm for matrix products, one team of threads ({@link Parallel}) that every kernel of this backend runs on.
 * Memory comes from malloc through a cache keyed by exact size, so a training step that
 * allocates the same shapes every time reuses its blocks instead of touching the OS.
 *
 * <p>The thread count belongs to the backend: {@link #withThreads} gives the backend with n threads, one instance per
 * count for the process (so repeated calls share its team and its allocator cache), and {@link #get} the one with the
 * default count (DMA_THREADS, else the machine's cores). Results are bit for bit the same for the same seed and the
 * same thread count. Tensors carry their backend: tensors from backends with different thread counts do not mix.
 */
public final class CpuBackend implements Backend {
    static {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty())
            throw new IllegalStateException("cpu: the CPU kernels need the Vector API, an incubator module in Java 17: run java with "
                    + "--add-modules jdk.incubator.vector (./dma and the Maven test setup pass it)");
    }

    /** The backends made so far, by thread count. */
    private static final ConcurrentHashMap<Integer, CpuBackend> BY_THREADS = new ConcurrentHashMap<>();
    /** The backend with the default thread count, once asked for. */
    private static volatile CpuBackend defaultBackend;
    /** Cached free blocks beyond this many bytes go back to the OS. */
    private static final long CACHE_LIMIT = 1L << 30;

    private final MemoryStats stats = new MemoryStats();
    private final Map<Long, ArrayDeque<Pointer>> cache = new HashMap<>();
    private long cachedBytes;

    private final Parallel parallel;
    private final CpuBlas blas;
    private final CpuElementwise elementwise;
    private final CpuReductions reductions;
    private final CpuLayout layout;
    private final CpuConvolution convolution;
    private final CpuNormalization normalization;
    private final CpuLosses losses;
    private final CpuAttention attention;
    private final CpuOptim optim;

    private CpuBackend(int threads) {
        parallel = new Parallel(threads);
        blas = new CpuBlas(parallel);
        reductions = new CpuReductions(parallel);
        elementwise = new CpuElementwise(parallel, reductions);
        layout = new CpuLayout(parallel);
        convolution = new CpuConvolution(parallel);
        normalization = new CpuNormalization(parallel);
        losses = new CpuLosses(parallel);
        attention = new CpuAttention(parallel);
        optim = new CpuOptim(parallel);
    }

    /** The backend with the default thread count: the environment's DMA_THREADS, else the machine's cores. */
    public static CpuBackend get() {
        CpuBackend d = defaultBackend;
        if (d == null) defaultBackend = d = withThreads(Parallel.defaultThreads());
        return d;
    }

    /** The backend whose kernels run on {@code threads} threads (≥ 1): the same instance for the same count. */
    public static CpuBackend withThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("cpu: threads must be ≥ 1, got " + threads);
        return BY_THREADS.computeIfAbsent(threads, CpuBackend::new);
    }

    /** Drops the cached blocks of every CPU backend made so far (each thread count's), as {@link #emptyCache} drops one's. */
    public static void emptyEveryCache() {
        for (CpuBackend b : BY_THREADS.values()) b.emptyCache();
    }

    /** How many threads this backend's kernels run on. */
    public int threads() {
        return parallel.threads();
    }

    /** This backend's team of threads. */
    Parallel parallel() {
        return parallel;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String toString() {
        return "cpu with " + threads() + (threads() == 1 ? " thread" : " threads");
    }

    @Override
    public Storage allocate(long bytes) {
        long size = Math.max(bytes, 4);
        if (size > Integer.MAX_VALUE) throw new IllegalArgumentException("cpu: one allocation is limited to 2 GiB, asked for " + size + " bytes");
        Pointer p = null;
        synchronized (this) {
            ArrayDeque<Pointer> free = cache.get(size);
            if (free != null && !free.isEmpty()) {
                p = free.pop();
                cachedBytes -= size;
            }
        }
        boolean hit = p != null;
        if (p == null) {
            p = Pointer.malloc(size);
            if (p == null || p.isNull()) {
                emptyCache();
                p = Pointer.malloc(size);
                if (p == null || p.isNull())
                    throw new OutOfMemoryError("cpu: malloc of " + size + " bytes failed (" + stats + ")");
            }
        }
        stats.onAllocate(size, hit);
        return new CpuStorage(this, p, size);
    }

    @Override
    public void free(Storage storage) {
        CpuStorage s = (CpuStorage) storage;
        long size = s.bytes();
        boolean keep;
        synchronized (this) {
            keep = cachedBytes + size <= CACHE_LIMIT;
            if (keep) {
                cache.computeIfAbsent(size, k -> new ArrayDeque<>()).push(s.memory);
                cachedBytes += size;
            }
        }
        if (!keep) Pointer.free(s.memory);
        stats.onFree(size, keep);
    }

    @Override
    public synchronized void emptyCache() {
        for (var e : cache.entrySet()) {
            for (Pointer p : e.getValue()) {
                Pointer.free(p);
                stats.onCacheDrop(e.getKey());
            }
        }
        cache.clear();
        cachedBytes = 0;
    }

    @Override
    public MemoryStats memory() {
        return stats;
    }

    /** Bytes per thread below which memset and memcpy run on the calling thread alone. */
    private static final int COPY_GRAIN = 1 << 20;

    @Override
    public void zero(Storage storage) {
        CpuStorage s = (CpuStorage) storage;
        // on all threads: one core's memset reaches about half the memory bandwidth, and a ResNet-110 step zeroes
        // about 1.5 GB of fresh gradients
        inParts(s.bytes(), (from, len) -> Pointer.memset(new BytePointer(s.memory).position(from), 0, len));
    }

    @Override
    public void copy(Storage src, Storage dst, long bytes) {
        Pointer d = ((CpuStorage) dst).memory, s = ((CpuStorage) src).memory;
        inParts(bytes, (from, len) -> Pointer.memcpy(new BytePointer(d).position(from), new BytePointer(s).position(from), len));
    }

    private interface Part {
        void run(long from, long len);
    }

    /** Runs part over [0, bytes) in contiguous pieces, one per thread, for buffers of at least COPY_GRAIN bytes per thread. */
    private void inParts(long bytes, Part part) {
        int pieces = (int) Math.max(1, Math.min(parallel.threads(), bytes / COPY_GRAIN));
        if (pieces == 1) {
            part.run(0, bytes);
            return;
        }
        parallel.forRange(pieces, 1, (s, e) -> {
            for (int i = s; i < e; i++) {
                long from = bytes * i / pieces, to = bytes * (i + 1) / pieces;
                part.run(from, to - from);
            }
        });
    }

    @Override
    public void upload(float[] src, Storage dst, int dstOffset) {
        ((CpuStorage) dst).f.put(dstOffset, src, 0, src.length);
    }

    @Override
    public void download(Storage src, int srcOffset, float[] dst) {
        ((CpuStorage) src).f.get(srcOffset, dst, 0, dst.length);
    }

    @Override
    public void uploadBytes(byte[] src, Storage dst) {
        ((CpuStorage) dst).bytes.put(0, src, 0, src.length);
    }

    @Override
    public byte[] downloadBytes(Storage src, long bytes) {
        byte[] out = new byte[Math.toIntExact(bytes)];
        ((CpuStorage) src).bytes.get(0, out, 0, out.length);
        return out;
    }

    @Override
    public void synchronize() {}

    @Override public Blas blas() { return blas; }
    @Override public Elementwise elementwise() { return elementwise; }
    @Override public Reductions reductions() { return reductions; }
    @Override public Layout layout() { return layout; }
    @Override public Convolution convolution() { return convolution; }
    @Override public Normalization normalization() { return normalization; }
    @Override public Losses losses() { return losses; }
    @Override public Attention attention() { return attention; }
    @Override public Optim optim() { return optim; }

    /** The float32 view of a storage (null stays null: a skipped gradient). */
    static java.nio.FloatBuffer f(Storage s) {
        return s == null ? null : ((CpuStorage) s).f;
    }
}
