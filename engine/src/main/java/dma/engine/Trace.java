package dma.engine;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dma.engine.cpu.Parallel;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The timeline of a traced {@link OpProfile} ({@link OpProfile#open(Backend, boolean)}): every interval the profile
 * times, as an event on the track of the thread that runs the ops, each step the caller names
 * ({@link OpProfile#stepStarts}), and every chunk of a CPU parallel region that thread opens ({@link Parallel#record}),
 * on the track of the thread that ran the chunk and named after the op whose interval it fell in ("attention forward ·
 * chunk 1"). {@link #write} writes the Chrome Trace Event format, which Perfetto (ui.perfetto.dev) and
 * chrome://tracing open.
 *
 * <p>Times are the profile's: an op's event runs from the end of the op (or mark) before it to its own end, so the
 * events of the profiling thread tile its time, and the step events hold them. Chunks are recorded on the threads that
 * ran them and named when the interval they ran in ends (the regions an op opens have all ended by then).
 */
public final class Trace {
    /**
     * One complete event, times in ns since the profile opened.
     *
     * @param cat    "forward", "backward", "mark", "step" or "chunk"
     * @param phase  the profile row's phase ("forward", "backward", or the mark's label); "" for a step
     * @param op     the profile row's op ("" for a mark or a step)
     * @param chunk  the chunk of its region and the region's chunks (−1, 0 for the others)
     */
    record Event(String name, String cat, String phase, String op, String shape, long tid, long start, long dur, int chunk, int chunks) {}

    /** A chunk that ran, waiting for the end of the interval it ran in to be named. */
    private record Chunk(int chunk, int chunks, long tid, long start, long end) {}

    private final long origin;
    private final long mainTid;
    private final List<Event> events = new ArrayList<>();
    private final ConcurrentLinkedQueue<Chunk> pending = new ConcurrentLinkedQueue<>();
    private final Map<Long, String> threadNames = new ConcurrentHashMap<>();
    /** Given to {@link Parallel#record}: called on the thread that ran the chunk. */
    final Parallel.ChunkRecorder recorder = this::chunk;
    private String stepName;
    private long stepStart;

    /** A trace of the ops run on {@code main}, its times counted from {@code origin} ({@link System#nanoTime}). */
    Trace(Thread main, long origin) {
        this.origin = origin;
        this.mainTid = main.getId();
        threadNames.put(mainTid, main.getName());
    }

    private void chunk(int chunk, int chunks, long start, long end) {
        Thread t = Thread.currentThread();
        long tid = t.getId();
        if (!threadNames.containsKey(tid)) threadNames.put(tid, t.getName());
        pending.add(new Chunk(chunk, chunks, tid, start, end));
    }

    /**
     * An interval of the profile on the main track, from {@code start} to {@code end} (nanoTime); the chunks that ran
     * since the last one are named after it.
     */
    void interval(String phase, String op, String shape, boolean mark, long start, long end) {
        String name = mark ? phase : op, cat = mark ? "mark" : phase;
        events.add(new Event(name, cat, phase, op, shape, mainTid, start - origin, end - start, -1, 0));
        String chunkName = mark ? phase : op + " " + phase;
        for (Chunk c; (c = pending.poll()) != null; )
            events.add(new Event(chunkName + " · chunk " + c.chunk(), "chunk", phase, op, shape, c.tid(), c.start() - origin,
                    c.end() - c.start(), c.chunk(), c.chunks()));
    }

    void stepStarts(String name, long at) {
        stepName = name;
        stepStart = at;
    }

    void stepEnded(long at) {
        if (stepName == null) throw new IllegalStateException("no step started");
        events.add(new Event(stepName, "step", "", "", "", mainTid, stepStart - origin, at - stepStart, -1, 0));
        stepName = null;
    }

    /** The events so far. */
    List<Event> events() {
        return List.copyOf(events);
    }

    /** How many events the trace holds (besides the tracks' names). */
    public int size() {
        return events.size();
    }

    /**
     * Writes the trace in the Chrome Trace Event format (JSON object form): {@code "traceEvents"} with a process named
     * {@code process}, one named track per thread (the profiling thread first), and a complete event ({@code "ph": "X"})
     * per op, mark, step and chunk, with {@code "ts"} and {@code "dur"} in µs since the profile opened (to the ns), and
     * {@code "args"}: the phase and output shape (and a chunk's op and chunk of chunks). Each track's events are written
     * in start order, a longer one first at the same start, so that viewers nest them as they nest in time.
     */
    public void write(Path file, String process) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        long pid = ProcessHandle.current().pid();
        List<Event> sorted = new ArrayList<>(events);
        sorted.sort(Comparator.comparingLong(Event::tid).thenComparingLong(Event::start).thenComparing(Comparator.comparingLong(Event::dur).reversed()));
        Map<Long, String> tracks = new TreeMap<>(threadNames);
        try (JsonGenerator g = new JsonFactory().createGenerator(Files.newOutputStream(file), JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeArrayFieldStart("traceEvents");
            metadata(g, "process_name", pid, mainTid, "name", process);
            int sortIndex = 1;
            for (Map.Entry<Long, String> t : tracks.entrySet()) {
                metadata(g, "thread_name", pid, t.getKey(), "name", t.getValue());
                g.writeStartObject();
                g.writeStringField("name", "thread_sort_index");
                g.writeStringField("ph", "M");
                g.writeNumberField("pid", pid);
                g.writeNumberField("tid", t.getKey());
                g.writeObjectFieldStart("args");
                g.writeNumberField("sort_index", t.getKey() == mainTid ? 0 : sortIndex++);
                g.writeEndObject();
                g.writeEndObject();
            }
            for (Event e : sorted) {
                g.writeStartObject();
                g.writeStringField("name", e.name());
                g.writeStringField("cat", e.cat());
                g.writeStringField("ph", "X");
                g.writeFieldName("ts");
                g.writeNumber(micros(e.start()));
                g.writeFieldName("dur");
                g.writeNumber(micros(e.dur()));
                g.writeNumberField("pid", pid);
                g.writeNumberField("tid", e.tid());
                g.writeObjectFieldStart("args");
                if (!e.cat().equals("step")) {
                    g.writeStringField("phase", e.phase());
                    g.writeStringField("shape", e.shape());
                }
                if (e.chunks() > 0) {
                    g.writeStringField("op", e.op());
                    g.writeNumberField("chunk", e.chunk());
                    g.writeNumberField("chunks", e.chunks());
                }
                g.writeEndObject();
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeStringField("displayTimeUnit", "ms");
            g.writeObjectFieldStart("otherData");
            g.writeStringField("producer", "dma OpProfile trace");
            g.writeStringField("clock", "ts and dur in µs since the profile opened; the device synchronized at every op");
            g.writeEndObject();
            g.writeEndObject();
        }
    }

    private static void metadata(JsonGenerator g, String name, long pid, long tid, String key, String value) throws IOException {
        g.writeStartObject();
        g.writeStringField("name", name);
        g.writeStringField("ph", "M");
        g.writeNumberField("pid", pid);
        g.writeNumberField("tid", tid);
        g.writeObjectFieldStart("args");
        g.writeStringField(key, value);
        g.writeEndObject();
        g.writeEndObject();
    }

    /** ns as µs with three decimals, written plainly (no exponent, whatever the size). */
    private static BigDecimal micros(long nanos) {
        return BigDecimal.valueOf(Math.max(0, nanos), 3);
    }
}
