package dma.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A team of threads for one CPU backend ({@link CpuBackend#withThreads}: one team per thread count, owned by the
 * backend that uses it). Work is split into static, contiguous chunks (at most one per thread), so every reduction
 * adds in the same order for a given thread count: same seed, same threads, same bits. The calling thread runs the
 * first chunk, then claims any chunk no team thread has started: which thread runs a chunk does not change what it
 * computes, and on a machine whose other cores are busy (shared, oversubscribed) a team thread that the scheduler
 * has not woken yet costs nothing instead of a wait of up to a time slice per region. Nested calls run inline (on any
 * team: a thread inside a region of one team runs another team's region inline too), so nothing oversubscribes the
 * cores. OpenBLAS runs single-threaded inside these chunks.
 *
 * <p>A training step opens a parallel region per kernel, hundreds of them back to back, so the team's threads spin
 * for {@link #SPIN_NANOS} waiting for the next one before they park (as OpenMP runtimes do): waking a parked thread
 * took 0.1–0.6 ms here (up to 4 ms), a tenth of a 4 ms convolution. Regions from several calling threads take turns.
 * The team's threads start with the first region that needs them and are daemons: a team lives as long as its backend.
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

    /**
     * Told of every chunk of the regions one thread opens while a trace records them ({@link #record}): which chunk of
     * how many, on the thread that ran it (the caller, or a thread of the team: any of them may claim any chunk), from when to when
     * ({@link System#nanoTime}). Called on that thread right after the chunk's body, before the region ends.
     */
    @FunctionalInterface
    public interface ChunkRecorder {
        void chunk(int chunk, int chunks, long startNanos, long endNanos);
    }

    /** A recorder and the thread whose regions it records. */
    private record Recording(Thread caller, ChunkRecorder to) {
        /** The body, timed chunk by chunk when the current thread is the recorded one. */
        Chunk wrap(Chunk body, int chunks) {
            if (Thread.currentThread() != caller) return body;
            return (c, s, e) -> {
                long start = System.nanoTime();
                try {
                    body.run(c, s, e);
                } finally {
                    to.chunk(c, chunks, start, System.nanoTime());
                }
            };
        }
    }

    /** The recording in force, or null: read once per region with more than one chunk, so untraced runs pay one volatile read. */
    private static volatile Recording recording;

    /** How long an idle thread of the team (or a caller waiting for it) spins before it parks. */
    static final long SPIN_NANOS = 100_000;

    /** Whether this thread runs a chunk of a region (of any team): then regions it opens run inline. */
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);
    private final int threads;
    private Team team;

    /** A team of {@code threads} threads: the caller of a region and threads − 1 more, started by the first region. */
    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be ≥ 1, got " + threads);
        this.threads = threads;
    }

    /**
     * Times every chunk of the regions that {@code caller} opens on any team until {@code to} is given to {@link #stopRecording}
     * (one recording at a time; a new one replaces the old). Chunks are split as without a recording, so results do not change.
     */
    public static void record(Thread caller, ChunkRecorder to) {
        recording = new Recording(caller, to);
    }

    /** Ends the recording into {@code to}, if it is the one in force. */
    public static void stopRecording(ChunkRecorder to) {
        Recording r = recording;
        if (r != null && r.to() == to) recording = null;
    }

    /** The default thread count: the environment's DMA_THREADS, else the machine's cores. */
    public static int defaultThreads() {
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

    public int threads() {
        return threads;
    }

    private synchronized Team team() {
        if (team == null) team = new Team(threads - 1);
        return team;
    }

    /** Runs body over [0, n) in at most {@link #threads()} chunks of at least {@code grain} indices each. */
    public void forRange(int n, int grain, Range body) {
        forChunks(n, grain, (c, s, e) -> body.run(s, e));
    }

    /**
     * Like {@link #forRange}, telling each body its chunk number, so a reduction can keep one partial
     * result per chunk (array of {@link #chunks} entries) and add them in chunk order afterwards.
     */
    public void forChunks(int n, int grain, Chunk body) {
        int chunks = chunks(n, grain);
        if (chunks <= 1) {
            if (n > 0) body.run(0, 0, n);
            return;
        }
        Recording r = recording;
        team().run(r == null ? body : r.wrap(body, chunks), n, chunks);
    }

    /** The chunk count {@link #forChunks} uses for n indices (1 when called from inside a parallel region). */
    public int chunks(int n, int grain) {
        return INSIDE.get() ? 1 : Math.min(threads, Math.max(1, n / Math.max(1, grain)));
    }

    private static void runChunk(Chunk body, int chunk, int n, int chunks) {
        INSIDE.set(Boolean.TRUE);
        try {
            body.run(chunk, (int) ((long) n * chunk / chunks), (int) ((long) n * (chunk + 1) / chunks));
        } finally {
            INSIDE.set(Boolean.FALSE);
        }
    }

    /**
     * One parallel region: read by the team's threads through a single volatile reference, so they see it whole.
     * {@code next} is the first chunk nobody has claimed yet; every thread, the caller included, claims chunks from it.
     */
    private record Region(int generation, Chunk body, int n, int chunks, AtomicInteger next) {
        /** Runs chunks claimed from {@code next} until none is left; returns how many this thread ran. */
        int claimAndRun(AtomicReference<Throwable> failure) {
            int ran = 0;
            for (int c; (c = next.getAndIncrement()) < chunks; ran++) {
                try {
                    runChunk(body, c, n, chunks);
                } catch (RuntimeException | Error e) {
                    failure.compareAndSet(null, e);
                }
            }
            return ran;
        }
    }

    /** Threads 1..size of a region (the caller is thread 0), waiting for regions by spinning, then parking. */
    private static final class Team {
        private final ReentrantLock lock = new ReentrantLock();
        private final Worker[] workers;
        private final AtomicInteger pending = new AtomicInteger();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile Region current = new Region(0, null, 0, 0, new AtomicInteger());
        private volatile Thread caller;

        Team(int size) {
            workers = new Worker[size];
            for (int i = 0; i < size; i++) {
                workers[i] = new Worker(i + 1);
                workers[i].start();
            }
        }

        void run(Chunk body, int n, int chunks) {
            lock.lock();
            try {
                caller = Thread.currentThread();
                failure.set(null);
                pending.set(chunks);
                Region r = new Region(current.generation() + 1, body, n, chunks, new AtomicInteger());
                current = r;
                for (int i = 0; i < chunks - 1; i++) if (workers[i].parked) LockSupport.unpark(workers[i]);
                // chunk 0 first (claimed by the caller as a rule: no team thread is that quick), then whatever is left
                int ran = r.claimAndRun(failure);
                pending.addAndGet(-ran);
                long start = System.nanoTime();
                while (pending.get() != 0) {
                    if (System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
                    else LockSupport.parkNanos(this, 1_000_000);
                }
                Throwable f = failure.get(); // the first failure of any chunk, as thrown (an Error stays an Error)
                if (f instanceof RuntimeException re) throw re;
                if (f != null) throw (Error) f;
            } finally {
                lock.unlock();
            }
        }

        private final class Worker extends Thread {
            private final int chunk;
            volatile boolean parked;

            Worker(int chunk) {
                super("dma-cpu-" + chunk);
                this.chunk = chunk;
                setDaemon(true);
            }

            @Override
            public void run() {
                int seen = 0; // the team's initial region, not current: the first real one may be out before this thread runs
                while (true) {
                    Region r;
                    long start = System.nanoTime();
                    while ((r = current).generation() == seen) {
                        if (System.nanoTime() - start < SPIN_NANOS) {
                            Thread.onSpinWait();
                            continue;
                        }
                        parked = true;
                        if (current.generation() == seen) LockSupport.park(Team.this);
                        parked = false;
                    }
                    seen = r.generation();
                    if (chunk >= r.chunks()) continue; // not woken for this region (the caller does not wait for it)
                    // a late arrival finds every chunk claimed, by the caller or another thread, and runs none
                    int ran = r.claimAndRun(failure);
                    if (ran > 0 && pending.addAndGet(-ran) == 0) LockSupport.unpark(caller);
                }
            }
        }
    }
}
