package dma.engine.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Faults injected at named points of a run, for the tests that kill a run everywhere and fill its disk. Off unless the
 * environment variable {@code DMA_FAULT} is set to {@code ACTION@POINT} or {@code ACTION@POINT#N} (the N-th time this
 * process reaches the point; the first by default):
 * <ul>
 *   <li>{@code kill}: the process halts at once with exit code 137, as under SIGKILL (no finally blocks, no shutdown
 *   hooks, buffered output lost; the operating system closes its files and releases its locks);</li>
 *   <li>{@code enospc}: the write fails with "No space left on device", as on a full disk.</li>
 * </ul>
 * Points: {@code start/STAGE} (a stage begins), {@code step/STAGE} (after each training step), {@code end/STAGE} (its
 * output is written, its result.json not yet), {@code assembled/STAGE} (modules assembled in memory, nothing written),
 * {@code summary} (every stage finished, the report not yet written), and for each atomically written file
 * ({@link AtomicFile}) {@code write/DIR/NAME} (its temp file written, not yet forced) and {@code rename/DIR/NAME} (the
 * temp file complete, not yet renamed over the file), DIR being the file's directory's name.
 */
public final class Faults {
    public static final String ENV = "DMA_FAULT";
    /** The exit code of a process killed by SIGKILL, which {@code kill} imitates. */
    public static final int KILLED = 137;

    private record Spec(String action, String point, int nth) {}

    private static final Spec SPEC = parse(System.getenv(ENV));
    private static final Map<String, AtomicInteger> HITS = new ConcurrentHashMap<>();

    private Faults() {}

    static Spec parse(String s) {
        if (s == null || s.isBlank()) return null;
        int at = s.indexOf('@'), hash = s.lastIndexOf('#');
        String action = at < 0 ? "" : s.substring(0, at);
        if (!action.equals("kill") && !action.equals("enospc"))
            throw new IllegalArgumentException(ENV + "=" + s + ": expected kill@POINT[#N] or enospc@POINT[#N]");
        String point = s.substring(at + 1, hash > at ? hash : s.length());
        int nth = hash > at ? Integer.parseInt(s.substring(hash + 1)) : 1;
        return new Spec(action, point, nth);
    }

    /** A point of a run that writes nothing: a kill there halts the process; enospc cannot happen there. */
    public static void reach(String point) {
        if (SPEC != null && hit(point) && SPEC.action.equals("kill")) kill(point);
    }

    /** A point inside the write of {@code file}: a kill halts the process, enospc fails the write. */
    static void reach(String point, Path file) throws IOException {
        if (SPEC == null || !hit(point)) return;
        if (SPEC.action.equals("kill")) kill(point);
        throw new IOException(file + ": No space left on device (injected by " + ENV + ")");
    }

    private static boolean hit(String point) {
        return SPEC.point.equals(point) && HITS.computeIfAbsent(point, p -> new AtomicInteger()).incrementAndGet() == SPEC.nth;
    }

    private static void kill(String point) {
        System.err.println("dma: " + ENV + ": killed at " + point);
        System.err.flush();
        Runtime.getRuntime().halt(KILLED);
    }
}
