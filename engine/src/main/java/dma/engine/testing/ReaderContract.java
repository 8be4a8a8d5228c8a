package dma.engine.testing;

import dma.engine.MemoryStats;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * What every reader of an untrusted file promises, checked on one input by the fuzz tests of each module:
 * <ul>
 *   <li>it fails only with its documented exception, whose message is one line that names the file (so the command
 *       line prints it as is: {@code dma <command>: <message>}, exit 2); anything else escaping (a
 *       NullPointerException, an index out of bounds, a NegativeArraySizeException, an OutOfMemoryError, a raw Jackson
 *       or I/O exception) is a bug in the reader;</li>
 *   <li>it allocates no more than the input justifies: the bytes it allocates on the calling thread's heap (and, for
 *       readers that build tensors, on a backend) are at most {@link #bound} of what is on disk, so a header that
 *       claims 2^40 bytes is rejected before anything of that size is allocated.</li>
 * </ul>
 * Time is bounded outside: a fuzz test's {@code @Timeout} fails a regression input that takes too long, and Jazzer
 * passes the same limit to libFuzzer's {@code -timeout} when fuzzing.
 */
public final class ReaderContract {
    /**
     * Heap bytes a reader may allocate per byte of input. A reader holds the file (×1), decodes it (text as UTF-16 or
     * bytes to floats: ×2 to ×4), and a JSON reader builds a tree of nodes (a two-byte {@code 0,} in an array becomes an
     * IntNode, a list slot and its share of the list's regrowth: about ×20); 32 covers these, while a header's claim of
     * gigabytes from a kilobyte file exceeds it by orders of magnitude.
     */
    public static final long BYTES_PER_INPUT_BYTE = 32;
    /**
     * Fixed allowance: buffers of a fixed size (I/O buffers, Jackson's) and, at the sizes fuzzing tries (libFuzzer's
     * max_len: 4 KiB, or the largest seed), what a reader spends per record rather than per byte: Jackson's parser and
     * context for each line of metrics.jsonl cost about 900 bytes, 300 a byte for lines of {@code {}} (1.3 MB for 4 KiB
     * of them). Measured, the regression inputs take at most 0.25 MB (heap and backend together) once warmed up.
     */
    public static final long FIXED_BYTES = 4L << 20;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private ReaderContract() {}

    /** A read of the file under test. */
    @FunctionalInterface
    public interface Read {
        void run() throws Exception;
    }

    /** What a checked read did: the documented exception it threw (null if it succeeded) and the bytes it allocated. */
    public record Outcome(Throwable failure, long heapBytes, long backendBytes) {}

    /** The most a reader may allocate for {@code inputBytes} bytes on disk: 32 × input + 4 MiB. */
    public static long bound(long inputBytes) {
        return BYTES_PER_INPUT_BYTE * inputBytes + FIXED_BYTES;
    }

    /**
     * Runs {@code read} and checks the contract: it returns or throws one of {@code documented} with a one-line message
     * containing {@code file}; the heap it allocated plus the peak of what {@code backend} (null: none) holds beyond what
     * it held before is at most {@code limitBytes}. A violation is an AssertionError with the cause attached.
     */
    public static Outcome check(String file, long limitBytes, MemoryStats backend, List<Class<? extends Throwable>> documented, Read read) {
        long liveBefore = 0;
        if (backend != null) {
            backend.resetPeak();
            liveBefore = backend.liveBytes();
        }
        long heapBefore = THREADS.getCurrentThreadAllocatedBytes();
        Throwable thrown = null;
        try {
            read.run();
        } catch (Throwable t) {
            thrown = t;
        }
        Throwable failure = thrown;
        long heap = THREADS.getCurrentThreadAllocatedBytes() - heapBefore;
        long offHeap = backend == null ? 0 : Math.max(0, backend.peakBytes() - liveBefore);
        if (failure != null) {
            if (documented.stream().noneMatch(c -> c.isInstance(failure)))
                throw new AssertionError("undocumented exception for " + file + ": " + failure + " (documented: "
                        + documented.stream().map(Class::getSimpleName).toList() + ")", failure);
            String message = failure.getMessage();
            if (message == null || !message.contains(file))
                throw new AssertionError("the message does not name the file " + file + ": " + failure, failure);
            if (message.contains("\n") || message.contains("\r"))
                throw new AssertionError("the message is not one line: " + failure, failure);
        }
        if (heap + offHeap > limitBytes)
            throw new AssertionError(String.format("%s: the read allocated %,d bytes on the heap and %,d on the backend, more than the %,d "
                    + "its input justifies%s", file, heap, offHeap, limitBytes, failure == null ? "" : " (it failed with: " + failure + ")"), failure);
        return new Outcome(failure, heap, offHeap);
    }

    /** A new temporary directory for the inputs of a fuzz test, deleted with everything in it when the JVM exits. */
    public static Path scratchDirectory() {
        try {
            Path dir = Files.createTempDirectory("dma-fuzz-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deletes {@code dir} and everything below it (best effort: what cannot be deleted stays). */
    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // best effort
        }
    }
}
