package dma.trainer.data;

import dma.engine.CounterRng;
import dma.engine.Rng;

import java.util.ArrayDeque;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Batches of normalized images and soft targets, for one consumer thread. In training mode the order of
 * epoch e is a permutation drawn from (seed, e), the last partial batch is dropped, and batch b is augmented
 * from a stream drawn from (seed, e, b) alone (per image from (seed, e, b, i)), so {@code start(e, s)}
 * reproduces batch s of an uninterrupted epoch e whatever the number of workers. In evaluation mode the
 * order is the natural one, the last partial batch is kept and nothing is augmented.
 * With {@code workers > 0}, up to 2–4 batches are prepared ahead on daemon threads and returned in order.
 */
public final class BatchLoader implements AutoCloseable {
    /** {@code images}: [size, c, h, w] normalized; {@code targets}: [size, classes], one-hot unless mixed. */
    public record Batch(float[] images, float[] targets, int[] labels, int size) {}

    private static final AtomicInteger THREADS = new AtomicInteger();

    private final Dataset data;
    private final int batchSize, prefetch;
    private final Augment aug;
    private final float[][] lut;
    private final long orderSeed, augSeed;
    private final boolean train;
    private final ExecutorService pool;
    private final ArrayDeque<Future<Batch>> ahead = new ArrayDeque<>();
    private int epoch, nextSubmit, nextReturn;
    private int[] order;
    private boolean closed;

    public BatchLoader(Dataset data, int batchSize, Augment aug, float[] mean, float[] std, long seed, boolean train, int workers) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size " + batchSize + " must be at least 1");
        if (workers < 0) throw new IllegalArgumentException("workers " + workers + " must be ≥ 0");
        if (mean.length != data.channels() || std.length != data.channels())
            throw new IllegalArgumentException(data.name() + " has " + data.channels() + " channels but normalization has "
                    + mean.length + " means and " + std.length + " standard deviations");
        this.data = data;
        this.batchSize = batchSize;
        this.aug = aug == null ? Augment.none() : aug;
        this.lut = Augment.normalizer(mean, std);
        this.orderSeed = CounterRng.derive(seed, 0);
        this.augSeed = CounterRng.derive(seed, 1);
        this.train = train;
        this.prefetch = Math.max(2, Math.min(4, 2 * workers));
        this.pool = workers == 0 ? null : Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "batch-loader-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    public int stepsPerEpoch() {
        return train ? data.size() / batchSize : (data.size() + batchSize - 1) / batchSize;
    }

    /** Starts epoch {@code epoch} at step {@code fromStep}, dropping any batches prepared for the previous start. */
    public void start(int epoch, int fromStep) {
        if (closed) throw new IllegalStateException("batch loader is closed");
        if (fromStep < 0 || fromStep > stepsPerEpoch())
            throw new IllegalArgumentException("step " + fromStep + " is outside the epoch's " + stepsPerEpoch() + " steps");
        cancelAhead();
        this.epoch = epoch;
        this.order = order(epoch);
        nextSubmit = nextReturn = fromStep;
        fill();
    }

    public boolean hasNext() {
        return order != null && nextReturn < stepsPerEpoch();
    }

    public Batch next() {
        if (closed) throw new IllegalStateException("batch loader is closed");
        if (order == null) throw new IllegalStateException("call start(epoch, step) before next()");
        if (nextReturn >= stepsPerEpoch())
            throw new NoSuchElementException("epoch " + epoch + " has only " + stepsPerEpoch() + " steps");
        int step = nextReturn++;
        if (pool == null) return batch(epoch, step, order);
        Future<Batch> f = ahead.poll();
        fill();
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("preparing batch " + step + " of epoch " + epoch + " of " + data.name() + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for batch " + step + " of epoch " + epoch, e);
        } catch (CancellationException e) {
            throw new IllegalStateException("batch " + step + " of epoch " + epoch + " was cancelled", e);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cancelAhead();
        if (pool != null) pool.shutdownNow();
    }

    private void fill() {
        if (pool == null) return;
        int e = epoch;
        int[] o = order;
        while (ahead.size() < prefetch && nextSubmit < stepsPerEpoch()) {
            int s = nextSubmit++;
            ahead.add(pool.submit(() -> batch(e, s, o)));
        }
    }

    private void cancelAhead() {
        for (Future<Batch> f : ahead) f.cancel(true);
        ahead.clear();
    }

    private int[] order(int epoch) {
        int[] o = new int[data.size()];
        for (int i = 0; i < o.length; i++) o[i] = i;
        if (train) Subsets.shuffle(o, new Rng(CounterRng.derive(orderSeed, epoch)));
        return o;
    }

    /** Batch {@code step} of an epoch with the given order: a pure function of (seed, epoch, step). */
    private Batch batch(int epoch, int step, int[] order) {
        int from = step * batchSize, n = Math.min(batchSize, data.size() - from), m = data.imageSize(), k = data.classes();
        int h = data.height(), w = data.width();
        float[] images = new float[n * m], targets = new float[n * k];
        int[] labels = new int[n];
        long batchSeed = CounterRng.derive(CounterRng.derive(augSeed, epoch), step), imageSeed = CounterRng.derive(batchSeed, 0);
        for (int i = 0; i < n; i++) {
            int idx = order[from + i];
            labels[i] = data.label(idx);
            if (train) aug.image(data.images(), idx * m, h, w, lut, new Rng(CounterRng.derive(imageSeed, i)), images, i * m);
            else Augment.normalize(data.images(), idx * m, h, w, lut, images, i * m);
        }
        if (train) aug.mix(images, labels, n, data.channels(), h, w, k, new Rng(CounterRng.derive(batchSeed, 1)), targets);
        else for (int i = 0; i < n; i++) targets[i * k + labels[i]] = 1;
        return new Batch(images, targets, labels, n);
    }
}
