package dma.engine.cpu;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The CPU backend's one thread pool. Work is split into static, contiguous chunks (one per thread),
 * so every reduction adds in the same order for a given thread count: same seed, same threads,
 * same bits. The calling thread runs the first chunk; nested calls run inline, so nothing
 * oversubscribes the cores. OpenBLAS runs single-threaded inside these chunks.
 */
public final class Parallel {
    /** A body over the index range [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    /** A body over chunk {@code chunk} = the index range [start, end); chunks are numbered from 0. */
    @FunctionalInterface
    public interface Chunk {
        void run(int chunk, int start, int end);
    }

    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);
    private static volatile int threads = defaultThreads();
    private static ExecutorService pool;

    private Parallel() {}

    private static int defaultThreads() {
        String env = System.getenv("DMA_THREADS");
        if (env != null && !env.isBlank()) {
            try {
                return Math.max(1, Integer.parseInt(env.trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("DMA_THREADS must be a positive integer, got '" + env + "'");
            }
        }
        return Runtime.getRuntime().availableProcessors();
    }

    public static int threads() {
        return threads;
    }

    /** Sets the number of threads the CPU backend uses (default: DMA_THREADS or the machine's cores). */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be ≥ 1, got " + n);
        if (n != threads && pool != null) {
            pool.shutdown();
            pool = null;
        }
        threads = n;
    }

    private static synchronized ExecutorService pool() {
        if (pool == null) {
            AtomicInteger id = new AtomicInteger();
            pool = Executors.newFixedThreadPool(Math.max(1, threads - 1), r -> {
                Thread t = new Thread(r, "dma-cpu-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
        return pool;
    }

    /** Runs body over [0, n) in at most {@link #threads()} chunks of at least {@code grain} indices each. */
    public static void forRange(int n, int grain, Range body) {
        forChunks(n, grain, (c, s, e) -> body.run(s, e));
    }

    /**
     * Like {@link #forRange}, telling each body its chunk number, so a reduction can keep one partial
     * result per chunk (array of {@link #chunks} entries) and add them in chunk order afterwards.
     */
    public static void forChunks(int n, int grain, Chunk body) {
        int chunks = chunks(n, grain);
        if (chunks <= 1) {
            if (n > 0) body.run(0, 0, n);
            return;
        }
        ExecutorService p = pool();
        Future<?>[] futures = new Future<?>[chunks - 1];
        for (int c = 1; c < chunks; c++) {
            int chunk = c, start = (int) ((long) n * c / chunks), end = (int) ((long) n * (c + 1) / chunks);
            futures[c - 1] = p.submit(() -> {
                INSIDE.set(Boolean.TRUE);
                try {
                    body.run(chunk, start, end);
                } finally {
                    INSIDE.set(Boolean.FALSE);
                }
            });
        }
        RuntimeException failure = null;
        INSIDE.set(Boolean.TRUE);
        try {
            body.run(0, 0, (int) ((long) n / chunks));
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            INSIDE.set(Boolean.FALSE);
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                if (failure == null) failure = e.getCause() instanceof RuntimeException re ? re : new RuntimeException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) failure = new RuntimeException("interrupted", e);
            }
        }
        if (failure != null) throw failure;
    }

    /** The chunk count {@link #forChunks} uses for n indices (1 when called from inside a parallel region). */
    public static int chunks(int n, int grain) {
        return INSIDE.get() ? 1 : Math.min(threads, Math.max(1, n / Math.max(1, grain)));
    }
}
