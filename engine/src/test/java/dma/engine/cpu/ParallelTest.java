package dma.engine.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The thread team: every index once, chunks as documented, failures from any chunk as thrown, and still usable after;
 * and the CPU backend that owns one team per thread count.
 */
class ParallelTest {
    @Test
    void everyIndexRunsOnceInStaticChunksOverManyRegions() {
        for (int threads : new int[]{2, 3}) {
            Parallel team = new Parallel(threads);
            assertEquals(threads, team.threads());
            for (int n : new int[]{1, 2, 7, 1000}) {
                for (int region = 0; region < 200; region++) { // back to back: the team spins between them
                    AtomicIntegerArray hits = new AtomicIntegerArray(n);
                    int[] chunkOf = new int[n];
                    team.forChunks(n, 1, (chunk, s, e) -> {
                        for (int i = s; i < e; i++) {
                            hits.incrementAndGet(i);
                            chunkOf[i] = chunk;
                        }
                    });
                    int chunks = Math.min(threads, n);
                    assertEquals(chunks, team.chunks(n, 1));
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "index " + i + " of " + n);
                        assertEquals(expectedChunk(i, n, chunks), chunkOf[i], "chunk of index " + i + " of " + n);
                    }
                }
            }
        }
    }

    /** The chunk c whose range [n·c/chunks, n·(c+1)/chunks) holds i. */
    private static int expectedChunk(int i, int n, int chunks) {
        for (int c = 0; c < chunks; c++) if (i < (int) ((long) n * (c + 1) / chunks)) return c;
        return -1;
    }

    @Test
    void aFailureInAnyChunkIsThrownAsIsAndTheTeamGoesOn() {
        Parallel team = new Parallel(2);
        IllegalStateException boom = new IllegalStateException("boom");
        assertSame(boom, assertThrows(IllegalStateException.class,
                () -> team.forChunks(10, 1, (chunk, s, e) -> { if (chunk == 1) throw boom; })));
        assertThrows(OutOfMemoryError.class, () -> team.forChunks(10, 1, (chunk, s, e) -> { if (chunk == 0) throw new OutOfMemoryError("test"); }));
        AtomicIntegerArray hits = new AtomicIntegerArray(10);
        team.forRange(10, 1, (s, e) -> { for (int i = s; i < e; i++) hits.incrementAndGet(i); });
        for (int i = 0; i < 10; i++) assertEquals(1, hits.get(i));
    }

    @Test
    void nestedRegionsRunInlineOnAnyTeam() {
        Parallel team = new Parallel(2), other = new Parallel(3);
        int[] inner = new int[2], innerOther = new int[2];
        team.forChunks(2, 1, (chunk, s, e) -> {
            inner[chunk] = team.chunks(100, 1);
            innerOther[chunk] = other.chunks(100, 1);
        });
        assertEquals(1, inner[0]);
        assertEquals(1, inner[1]);
        assertEquals(1, innerOther[0]);
        assertEquals(1, innerOther[1]);
        assertEquals(3, other.chunks(100, 1), "outside any region: its own count");
    }

    @Test
    void aTeamNeedsAThread() {
        assertThrows(IllegalArgumentException.class, () -> new Parallel(0));
    }

    @Test
    void theBackendOwnsItsThreadsOneInstancePerCount() {
        CpuBackend two = CpuBackend.withThreads(2), three = CpuBackend.withThreads(3);
        assertEquals(2, two.threads());
        assertEquals(3, three.threads());
        assertSame(two, CpuBackend.withThreads(2), "the same count gives the same backend (one team, one allocator cache)");
        assertSame(two.parallel(), CpuBackend.withThreads(2).parallel());
        assertEquals(Parallel.defaultThreads(), CpuBackend.get().threads());
        assertSame(CpuBackend.get(), CpuBackend.withThreads(Parallel.defaultThreads()));
        assertSame(three, dma.engine.Backends.get("cpu", 3));
        assertSame(CpuBackend.get(), dma.engine.Backends.get("cpu"));
        assertThrows(IllegalArgumentException.class, () -> CpuBackend.withThreads(0));
        assertThrows(IllegalArgumentException.class, () -> dma.engine.Backends.get("cpu", 0));
    }
}
