package dma.trainer.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchLoaderTest {
    private static final Augment ALL = new Augment(1, true, 0.8f, 1f, 0.5f, 0.9f, 0.5f);

    /** 37 RGB 6×6 images of random bytes in 5 classes. */
    private static Dataset randomSet() {
        dma.engine.Rng rng = new dma.engine.Rng(9);
        byte[] px = new byte[37 * 108];
        for (int i = 0; i < px.length; i++) px[i] = (byte) rng.nextInt(256);
        int[] labels = new int[37];
        for (int i = 0; i < labels.length; i++) labels[i] = rng.nextInt(5);
        return new Dataset("random", 3, 6, 6, 5, px, labels);
    }

    private static List<BatchLoader.Batch> epoch(BatchLoader l, int epoch, int from) {
        l.start(epoch, from);
        List<BatchLoader.Batch> out = new ArrayList<>();
        while (l.hasNext()) out.add(l.next());
        return out;
    }

    private static void assertSame(BatchLoader.Batch a, BatchLoader.Batch b, String what) {
        assertEquals(a.size(), b.size(), what);
        assertArrayEquals(a.labels(), b.labels(), what);
        assertArrayEquals(a.images(), b.images(), what);
        assertArrayEquals(a.targets(), b.targets(), what);
    }

    @Test
    void resumingAtAStepReproducesTheUninterruptedEpochWithAnyWorkerCount() {
        Dataset d = randomSet();
        float[] mean = d.mean(), std = d.std();
        for (int epoch : new int[]{0, 3}) {
            List<BatchLoader.Batch> reference;
            try (BatchLoader l = new BatchLoader(d, 8, ALL, mean, std, 11, true, 0)) {
                assertEquals(4, l.stepsPerEpoch());
                reference = epoch(l, epoch, 0);
            }
            assertEquals(4, reference.size());
            for (int workers : new int[]{0, 2})
                try (BatchLoader l = new BatchLoader(d, 8, ALL, mean, std, 11, true, workers)) {
                    List<BatchLoader.Batch> all = epoch(l, epoch, 0);
                    for (int s = 0; s < 4; s++) assertSame(reference.get(s), all.get(s), "workers " + workers + " step " + s);
                    for (int from = 0; from < 4; from++) {
                        l.start(epoch + 1, 1); // a start that is abandoned midway
                        l.next();
                        List<BatchLoader.Batch> resumed = epoch(l, epoch, from);
                        assertEquals(4 - from, resumed.size());
                        for (int s = from; s < 4; s++)
                            assertSame(reference.get(s), resumed.get(s - from), "workers " + workers + " resumed at " + from + ", step " + s);
                    }
                }
        }
        try (BatchLoader a = new BatchLoader(d, 8, ALL, mean, std, 11, true, 0);
             BatchLoader b = new BatchLoader(d, 8, ALL, mean, std, 12, true, 0)) {
            assertFalse(Arrays.equals(epoch(a, 0, 0).get(0).images(), epoch(b, 0, 0).get(0).images()), "another seed, other batches");
        }
    }

    /** The index of each image of an epoch, read from pixel 0 of a set whose image i holds i there. */
    private static List<Integer> order(BatchLoader l, int epoch) {
        List<Integer> out = new ArrayList<>();
        for (BatchLoader.Batch b : epoch(l, epoch, 0))
            for (int i = 0; i < b.size(); i++) out.add(Math.round(b.images()[i * 4] * 255));
        return out;
    }

    @Test
    void trainOrderIsANewPermutationEachEpochAndEvalOrderIsNatural() {
        int n = 50;
        byte[] px = new byte[n * 4];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            px[i * 4] = (byte) i;
            labels[i] = i % 3;
        }
        Dataset d = new Dataset("ids", 1, 2, 2, 3, px, labels);
        float[] zero = {0}, one = {1};
        try (BatchLoader train = new BatchLoader(d, 8, Augment.none(), zero, one, 5, true, 2);
             BatchLoader eval = new BatchLoader(d, 8, ALL, zero, one, 5, false, 0)) {
            assertEquals(6, train.stepsPerEpoch()); // 48 of 50: the partial batch is dropped
            assertEquals(7, eval.stepsPerEpoch());  // 50: kept
            List<Integer> e0 = order(train, 0), e1 = order(train, 1);
            assertEquals(48, new HashSet<>(e0).size());
            assertEquals(48, new HashSet<>(e1).size());
            assertTrue(!e0.equals(e1), "epochs differ");
            assertEquals(e0, order(train, 0), "and repeat");
            List<Integer> natural = new ArrayList<>();
            for (int i = 0; i < n; i++) natural.add(i);
            assertEquals(natural, order(eval, 0), "eval: natural order, no augmentation");
            assertEquals(natural, order(eval, 1));
            eval.start(0, 6);
            BatchLoader.Batch last = eval.next();
            assertEquals(2, last.size());
            assertArrayEquals(new float[]{1, 0, 0, 0, 1, 0}, last.targets(), "one-hot: labels 48 % 3, 49 % 3");
            assertThrows(NoSuchElementException.class, eval::next);
        }
    }

    @Test
    void mixedTrainingTargetsAreSoftAndSumToOne() {
        Dataset d = randomSet();
        try (BatchLoader l = new BatchLoader(d, 8, new Augment(0, false, 0.8f, 1f, 0.5f, 1, 0), d.mean(), d.std(), 1, true, 0)) {
            int soft = 0;
            for (int e = 0; e < 5; e++)
                for (BatchLoader.Batch b : epoch(l, e, 0))
                    for (int i = 0; i < b.size(); i++) {
                        float sum = 0;
                        int nonzero = 0;
                        for (int k = 0; k < 5; k++) {
                            float t = b.targets()[i * 5 + k];
                            sum += t;
                            if (t != 0) nonzero++;
                        }
                        assertEquals(1f, sum, 1e-6f);
                        assertTrue(nonzero <= 2);
                        if (b.targets()[i * 5 + b.labels()[i]] < 0.999f) soft++;
                    }
            assertTrue(soft > 0);
        }
    }

    @Test
    void workerErrorsSurfaceInNextAndCloseStopsTheThreads() throws InterruptedException {
        Dataset d = randomSet();
        BatchLoader l = new BatchLoader(d, 8, Augment.none(), d.mean(), d.std(), 1, false, 2);
        assertThrows(IllegalStateException.class, l::next, "next before start");
        int saved = d.labels()[0];
        d.labels()[0] = 1000; // corrupt the shared array behind the loader's back
        try {
            l.start(0, 0);
            var e = assertThrows(IllegalStateException.class, l::next);
            assertTrue(e.getMessage().contains("batch 0 of epoch 0"), e.getMessage());
            assertTrue(e.getCause() instanceof ArrayIndexOutOfBoundsException, String.valueOf(e.getCause()));
        } finally {
            d.labels()[0] = saved;
        }
        l.close();
        assertThrows(IllegalStateException.class, l::next);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (alive() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(0, alive(), "loader threads still running after close");
    }

    private static long alive() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("batch-loader-") && t.isAlive()).count();
    }

    @Test
    void rejectsNormalizationOfTheWrongLength() {
        Dataset d = randomSet();
        var e = assertThrows(IllegalArgumentException.class, () -> new BatchLoader(d, 8, null, new float[]{0.5f}, new float[]{0.5f}, 1, true, 0));
        assertTrue(e.getMessage().contains("3 channels"), e.getMessage());
    }
}
