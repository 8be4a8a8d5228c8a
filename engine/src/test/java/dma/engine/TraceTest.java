package dma.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A traced op profile: a Chrome Trace Event file with an event per interval of the profile, one per step, and one per
 * parallel chunk on the thread that ran it; events nest per track as they nest in time; tracing changes no result.
 */
class TraceTest {
    private final Backend be = CpuBackend.withThreads(2);

    private static Tensor batch(Backend be, int b) {
        return Scope.persistent(() -> Tensor.normal(be, 5, 0f, 1f, b, 64, 32));
    }

    @Test
    void aTracedStepHasEveryRowEveryChunkAndNestedTracks(@TempDir Path dir) throws Exception {
        int[] labels = {0, 1, 2, 3, 4, 0, 1, 2};
        float untracedLoss, tracedLoss;
        List<OpProfile.Row> rows;
        Path file = dir.resolve("sub").resolve("trace.json");
        try (TinyTransformer a = new TinyTransformer(be, 1, 32, 2, 5); TinyTransformer b = new TinyTransformer(be, 1, 32, 2, 5);
             Tensor x = batch(be, 8)) {
            a.trainStep(x, labels);
            b.trainStep(x, labels);
            untracedLoss = a.trainStep(x, labels);
            try (OpProfile p = OpProfile.open(be, true)) {
                p.stepStarts("step 1");
                tracedLoss = b.trainStep(x, labels);
                OpProfile.mark("end of step");
                p.stepEnded();
                rows = p.rows();
                p.trace().write(file, "dma test");
            }
            assertEquals(Float.floatToIntBits(untracedLoss), Float.floatToIntBits(tracedLoss), "tracing changes no result");
            for (int i = 0; i < a.params.size(); i++)
                assertArrayEquals(a.params.get(i).toFloats(), b.params.get(i).toFloats(), 0f, "parameter " + i);
        }
        Chrome t = Chrome.read(file);
        assertEquals("dma test", t.processName);
        for (OpProfile.Row r : rows)
            assertTrue(t.rows.contains(List.of(r.phase(), r.op(), r.shape())), "no event for row " + r + " in " + t.rows);
        assertEquals(1, t.steps.size());
        assertTrue(t.chunkTids.size() >= 2, "chunks on two threads: " + t.chunkTids);
        assertTrue(t.names.values().stream().anyMatch(n -> n.startsWith("dma-cpu-")), t.names.toString());
        assertTrue(t.chunkNames.stream().anyMatch(n -> n.equals("matmul forward · chunk 1")) || t.chunkNames.stream().anyMatch(n -> n.endsWith("forward · chunk 1")),
                t.chunkNames.toString());
        // the step holds every event of the main track
        JsonNode step = t.steps.get(0);
        for (JsonNode e : t.byTid.get(step.get("tid").asLong()))
            assertTrue(e.get("ts").asDouble() >= step.get("ts").asDouble() && end(e) <= end(step) + EPS, e.toString());
        // without a trace: no recording left behind
        try (OpProfile p = OpProfile.open(be)) {
            assertNull(p.trace());
        }
    }

    /** Half the file's resolution (1 ns = 0.001 µs): sums of its times in doubles are off by less. */
    static final double EPS = 5e-4;

    static double end(JsonNode e) {
        return e.get("ts").asDouble() + e.get("dur").asDouble();
    }

    /** A Chrome Trace Event file read back and checked: fields, times, nesting per track. */
    static final class Chrome {
        String processName;
        long mainTid;
        final Map<Long, String> names = new HashMap<>();
        final Map<Long, List<JsonNode>> byTid = new HashMap<>();
        final Set<List<String>> rows = new HashSet<>();
        final List<JsonNode> steps = new ArrayList<>();
        final Set<Long> chunkTids = new HashSet<>();
        final Set<String> chunkNames = new HashSet<>();

        static Chrome read(Path file) throws Exception {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            assertEquals("ms", root.get("displayTimeUnit").asText());
            Chrome c = new Chrome();
            long pid = -1;
            for (JsonNode e : root.get("traceEvents")) {
                for (String f : List.of("name", "ph", "pid", "tid")) assertTrue(e.has(f), f + " in " + e);
                if (pid < 0) pid = e.get("pid").asLong();
                assertEquals(pid, e.get("pid").asLong(), "one process");
                String ph = e.get("ph").asText();
                if (ph.equals("M")) {
                    if (e.get("name").asText().equals("process_name")) {
                        c.processName = e.get("args").get("name").asText();
                        c.mainTid = e.get("tid").asLong();
                    }
                    if (e.get("name").asText().equals("thread_name")) c.names.put(e.get("tid").asLong(), e.get("args").get("name").asText());
                    continue;
                }
                assertEquals("X", ph, e.toString());
                for (String f : List.of("cat", "ts", "dur", "args")) assertTrue(e.has(f), f + " in " + e);
                assertTrue(e.get("ts").isNumber() && e.get("ts").asDouble() >= 0 && e.get("dur").isNumber() && e.get("dur").asDouble() >= 0, e.toString());
                c.byTid.computeIfAbsent(e.get("tid").asLong(), k -> new ArrayList<>()).add(e);
                String cat = e.get("cat").asText();
                switch (cat) {
                    case "step" -> c.steps.add(e);
                    case "chunk" -> {
                        c.chunkTids.add(e.get("tid").asLong());
                        c.chunkNames.add(e.get("name").asText());
                    }
                    default -> {
                        assertTrue(e.get("args").has("phase") && e.get("args").has("shape"), e.toString());
                        c.rows.add(List.of(e.get("args").get("phase").asText(), cat.equals("mark") ? "" : e.get("name").asText(),
                                e.get("args").get("shape").asText()));
                    }
                }
            }
            for (long tid : c.byTid.keySet()) assertTrue(c.names.containsKey(tid), "track " + tid + " is named");
            for (List<JsonNode> track : c.byTid.values()) nested(track);
            // every chunk ran inside the interval of the op (or mark) it is named after, on the profiling thread's track
            List<JsonNode> main = c.byTid.get(c.mainTid);
            for (List<JsonNode> track : c.byTid.values())
                for (JsonNode ch : track) {
                    if (!ch.get("cat").asText().equals("chunk")) continue;
                    String phase = ch.get("args").get("phase").asText(), op = ch.get("args").get("op").asText();
                    assertTrue(main.stream().anyMatch(e -> !e.get("cat").asText().equals("chunk") && !e.get("cat").asText().equals("step")
                            && e.get("args").get("phase").asText().equals(phase) && (op.isEmpty() || e.get("name").asText().equals(op))
                            && e.get("ts").asDouble() <= ch.get("ts").asDouble() + EPS && end(ch) <= end(e) + EPS), "no op holds " + ch);
                }
            return c;
        }

        /** On one track, any two events are disjoint or one holds the other (as written: by start, longer first). */
        private static void nested(List<JsonNode> track) {
            ArrayList<Double> open = new ArrayList<>(); // the ends of the events that hold the current one
            double lastStart = -1;
            for (JsonNode e : track) {
                double ts = e.get("ts").asDouble(), end = end(e);
                assertTrue(ts >= lastStart, "in start order: " + e);
                lastStart = ts;
                while (!open.isEmpty() && open.get(open.size() - 1) <= ts + EPS) open.remove(open.size() - 1);
                if (!open.isEmpty()) assertTrue(end <= open.get(open.size() - 1) + EPS, "overlaps the event that holds it: " + e);
                open.add(end);
            }
        }
    }
}
