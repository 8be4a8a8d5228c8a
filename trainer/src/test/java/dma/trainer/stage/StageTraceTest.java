package dma.trainer.stage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.trainer.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code --trace} of the training stages: a timeline of a few steps after the warm-up, one file per stage, same weights. */
class StageTraceTest {
    @Test
    void theStagesNameGoesBeforeTheExtension() {
        assertEquals(Path.of("/tmp/t/trace-meta.json"), new StageTrace(Path.of("/tmp/t/trace.json"), 3).fileFor("meta"));
        assertEquals(Path.of("trace.v2-incubate-0.json"), new StageTrace(Path.of("trace.v2.json"), 3).fileFor("incubate-0"));
        assertEquals(Path.of("out/trace-e2e"), new StageTrace(Path.of("out/trace"), 3).fileFor("e2e"));
        assertThrows(IllegalArgumentException.class, () -> new StageTrace(Path.of("t.json"), 0));
    }

    @Test
    void eachTrainingStageWritesItsStepsAfterTheWarmUpWithoutChangingTheWeights(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
        Path cfg = PipelineTest.config(dir, PipelineTest.TINY), plain = dir.resolve("plain"), traced = dir.resolve("traced");
        Path trace = dir.resolve("traces").resolve("trace.json");
        assertEquals(0, Main.commandLine().execute("meta", "--config", cfg.toString(), "--run-dir", plain.toString(), "--threads", "2"));
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(0, cl.execute("meta", "--config", cfg.toString(), "--run-dir", traced.toString(), "--threads", "2",
                "--trace", trace.toString()), err.toString());

        // 600 training images at batch 32: 18 steps; 5 of warm-up, then 3 traced
        JsonNode meta = new ObjectMapper().readTree(dir.resolve("traces").resolve("trace-meta.json").toFile());
        assertEquals("ms", meta.get("displayTimeUnit").asText());
        List<String> steps = new ArrayList<>();
        Set<String> ops = new HashSet<>(), chunkThreads = new HashSet<>();
        String process = null;
        for (JsonNode e : meta.get("traceEvents")) {
            if (e.get("ph").asText().equals("M")) {
                if (e.get("name").asText().equals("process_name")) process = e.get("args").get("name").asText();
                continue;
            }
            assertEquals("X", e.get("ph").asText());
            for (String f : new String[]{"name", "cat", "ts", "dur", "pid", "tid", "args"}) assertTrue(e.has(f), f + " in " + e);
            assertTrue(e.get("ts").asDouble() >= 0 && e.get("dur").asDouble() >= 0, e.toString());
            switch (e.get("cat").asText()) {
                case "step" -> steps.add(e.get("name").asText());
                case "chunk" -> chunkThreads.add(e.get("tid").asText());
                default -> ops.add(e.get("cat").asText() + " " + e.get("name").asText());
            }
        }
        assertEquals("dma meta", process);
        assertEquals(List.of("step 6", "step 7", "step 8"), steps);
        for (String op : List.of("forward linear", "backward linear", "forward attention", "backward attention", "forward crossEntropy",
                "mark next batch, zero gradients", "mark optimizer step"))
            assertTrue(ops.contains(op), op + " in " + ops);
        assertTrue(chunkThreads.size() >= 2, "chunks on both threads: " + chunkThreads);

        // tracing changes no weight
        var be = CpuBackend.get();
        Map<String, Tensor> a = dma.engine.io.TensorFiles.load(plain.resolve("meta").resolve("model.safetensors"), be);
        Map<String, Tensor> b = dma.engine.io.TensorFiles.load(traced.resolve("meta").resolve("model.safetensors"), be);
        assertEquals(a.keySet(), b.keySet());
        a.forEach((key, t) -> assertArrayEquals(t.toFloats(), b.get(key).toFloats(), 0f, key));
        a.values().forEach(Tensor::close);
        b.values().forEach(Tensor::close);

        // the module stages of one process: one file each; a stage with fewer steps than warm-up + N has its last N traced
        Path shortCfg = dir.resolve("short.json");
        Files.writeString(shortCfg, PipelineTest.TINY.replace("\"incubate\": {\"epochs\": 1}", "\"incubate\": {\"epochs\": 0.3}"));
        assertEquals(0, Main.commandLine().execute("incubate", "--config", shortCfg.toString(), "--run-dir", traced.toString(),
                "--threads", "2", "--trace", trace.toString(), "--trace-steps", "2"));
        for (String stage : List.of("incubate-0", "incubate-1")) {
            List<String> s = new ArrayList<>();
            for (JsonNode e : new ObjectMapper().readTree(trace.resolveSibling("trace-" + stage + ".json").toFile()).get("traceEvents"))
                if (e.path("cat").asText().equals("step")) s.add(e.get("name").asText());
            assertEquals(List.of("step 4", "step 5"), s, stage + ": 0.3 of 18 steps is 5, the last 2 traced");
        }
        assertFalse(Files.exists(trace), "no file under the name given");
        assertNotEquals(0, Main.commandLine().execute("meta", "--config", cfg.toString(), "--run-dir", dir.resolve("x").toString(),
                "--trace-steps", "2"), "--trace-steps without --trace");
    }
}
