package dma.engine.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The thread team: every index once, chunks as documented, failures from any chunk as thrown, and still usable after. */
class ParallelTest {
    @Test
    void everyIndexRunsOnceInStaticChunksOverManyRegions() {
        int saved = Parallel.threads();
        try {
            for (int threads : new int[]{2, 3}) {
                Parallel.setThreads(threads);
                for (int n : new int[]{1, 2, 7, 1000}) {
                    for (int region = 0; region < 200; region++) { // back to back: the team spins between them
                        AtomicIntegerArray hits = new AtomicIntegerArray(n);
                        int[] chunkOf = new int[n];
                        Parallel.forChunks(n, 1, (chunk, s, e) -> {
                            for (int i = s; i < e; i++) {
                                hits.incrementAndGet(i);
                                chunkOf[i] = chunk;
                            }
                        });
                        int chunks = Math.min(threads, n);
                        for (int i = 0; i < n; i++) {
                            assertEquals(1, hits.get(i), "index " + i + " of " + n);
                            assertEquals(expectedChunk(i, n, chunks), chunkOf[i], "chunk of index " + i + " of " + n);
                        }
                    }
                }
            }
        } finally {
            Parallel.setThreads(saved);
        }
    }

    /** The chunk c whose range [n·c/chunks, n·(c+1)/chunks) holds i. */
    private static int expectedChunk(int i, int n, int chunks) {
        for (int c = 0; c < chunks; c++) if (i < (int) ((long) n * (c + 1) / chunks)) return c;
        return -1;
    }

    @Test
    void aFailureInAnyChunkIsThrownAsIsAndTheTeamGoesOn() {
        int saved = Parallel.threads();
        try {
            Parallel.setThreads(2);
            IllegalStateException boom = new IllegalStateException("boom");
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> Parallel.forChunks(10, 1, (chunk, s, e) -> { if (chunk == 1) throw boom; })));
            assertThrows(OutOfMemoryError.class, () -> Parallel.forChunks(10, 1, (chunk, s, e) -> { if (chunk == 0) throw new OutOfMemoryError("test"); }));
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            Parallel.forRange(10, 1, (s, e) -> { for (int i = s; i < e; i++) hits.incrementAndGet(i); });
            for (int i = 0; i < 10; i++) assertEquals(1, hits.get(i));
        } finally {
            Parallel.setThreads(saved);
        }
    }

    @Test
    void nestedRegionsRunInline() {
        int saved = Parallel.threads();
        try {
            Parallel.setThreads(2);
            int[] inner = new int[2];
            Parallel.forChunks(2, 1, (chunk, s, e) -> inner[chunk] = Parallel.chunks(100, 1));
            assertEquals(1, inner[0]);
            assertEquals(1, inner[1]);
        } finally {
            Parallel.setThreads(saved);
        }
    }
}
