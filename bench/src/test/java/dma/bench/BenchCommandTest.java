package dma.bench;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import dma.trainer.cli.Main;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code dma bench} through the real launcher: found by ServiceLoader, JSON on stdout and nothing else. */
class BenchCommandTest {
    private final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    @Test
    void gemmJsonHasEveryFigure() throws Exception {
        assertEquals(0, run("bench", "gemm", "--no-peer", "--json", "--size", "64", "--reps", "5", "--threads", "1"), err.toString());
        // throws unless stdout is exactly one JSON value
        JsonNode j = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString());
        assertEquals("gemm", j.get("workload").asText());
        assertEquals(64, j.get("size").asInt());
        assertEquals(1, j.get("threads").asInt());
        JsonNode ours = j.get("ours");
        assertEquals(5, ours.get("gflops").size());
        double min = ours.get("min").asDouble(), median = ours.get("median").asDouble(), max = ours.get("max").asDouble();
        assertTrue(0 < min && min <= median && median <= max, ours.toString());
        assertFalse(j.get("peer").get("available").asBoolean());
        assertTrue(j.get("ratio").isNull());
        assertTrue(j.has("machine"));
    }

    @Test
    void vitStepJsonAtATinySize() throws Exception {
        assertEquals(0, run("bench", "vit-step", "--no-peer", "--json", "--batch", "2", "--depth", "1", "--width", "16", "--heads", "1",
                "--threads", "1"), err.toString());
        JsonNode j = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString());
        assertEquals("vit-step", j.get("workload").asText());
        assertEquals(5, j.get("ours").get("images_per_s").size());
        assertTrue(j.get("ours").get("median").asDouble() > 0);
    }

    @Test
    void profileListsTheStepsOpsInTheJsonAndAsATable() throws Exception {
        assertEquals(0, run("bench", "resnet-step", "--no-peer", "--json", "--batch", "2", "--depth", "8", "--threads", "1",
                "--profile", "2"), err.toString());
        JsonNode rows = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString()).get("profile");
        java.util.Map<String, JsonNode> byName = new java.util.HashMap<>();
        for (JsonNode r : rows) byName.put((r.get("phase").asText() + " " + r.get("op").asText() + " " + r.get("shape").asText()).trim(), r);
        // ResNet-8: the stem and one block per stage, two convolutions each: 7 convolutions, 4 of them at 32×32 × 16
        JsonNode conv = byName.get("forward conv2d [2, 16, 32, 32]"), convBack = byName.get("backward conv2d [2, 16, 32, 32]");
        assertTrue(conv != null && convBack != null, byName.keySet().toString());
        assertEquals(3.0, conv.get("calls_per_step").asDouble(), "the stem's and the first block's two convolutions");
        assertEquals(3.0, convBack.get("calls_per_step").asDouble());
        assertTrue(byName.containsKey("optimizer step") && byName.containsKey("zero gradients"), byName.keySet().toString());
        for (JsonNode r : rows) assertTrue(r.get("ms_per_step").asDouble() >= 0, r.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("bench", "vit-step", "--no-peer", "--batch", "2", "--depth", "1", "--width", "16", "--heads", "1",
                "--threads", "1", "--profile", "1"), err.toString());
        assertTrue(out.toString().contains("where 1 profiled step went") && out.toString().contains("backward attention [2, 50, 16]")
                && out.toString().contains("in all"), out.toString());
    }

    /**
     * --trace: the profiled step of a small ViT on two threads as a Chrome Trace Event file that parses, whose events
     * have the format's fields, that holds an event for every row of the step's profile, and whose chunk events run on
     * both threads; without --profile, three steps.
     */
    @Test
    void traceWritesTheProfiledStepsOpsAsAChromeTimeline(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path file = dir.resolve("vit.json");
        assertEquals(0, run("bench", "vit-step", "--no-peer", "--json", "--batch", "8", "--depth", "1", "--width", "32", "--heads", "2",
                "--threads", "2", "--profile", "1", "--trace", file.toString()), err.toString());
        JsonNode rows = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString()).get("profile");
        assertTrue(err.toString().contains("trace: ") && err.toString().contains(file.toString()), err.toString());
        JsonNode trace = Report.JSON.readTree(file.toFile());
        assertEquals("ms", trace.get("displayTimeUnit").asText());
        java.util.Set<String> seen = new java.util.HashSet<>(), chunkThreads = new java.util.HashSet<>(), tracks = new java.util.HashSet<>();
        int steps = 0;
        String process = null;
        for (JsonNode e : trace.get("traceEvents")) {
            for (String f : new String[]{"name", "ph", "pid", "tid"}) assertTrue(e.has(f), f + " in " + e);
            if (e.get("ph").asText().equals("M")) {
                if (e.get("name").asText().equals("thread_name")) tracks.add(e.get("tid").asText());
                if (e.get("name").asText().equals("process_name")) process = e.get("args").get("name").asText();
                continue;
            }
            assertEquals("X", e.get("ph").asText(), e.toString());
            for (String f : new String[]{"cat", "ts", "dur", "args"}) assertTrue(e.has(f), f + " in " + e);
            assertTrue(e.get("ts").asDouble() >= 0 && e.get("dur").asDouble() >= 0, e.toString());
            assertTrue(tracks.contains(e.get("tid").asText()), "the track of " + e + " is named");
            String cat = e.get("cat").asText();
            if (cat.equals("step")) steps++;
            else if (cat.equals("chunk")) chunkThreads.add(e.get("tid").asText());
            else seen.add((e.get("args").get("phase").asText() + " " + (cat.equals("mark") ? "" : e.get("name").asText()) + " "
                    + e.get("args").get("shape").asText()).trim());
        }
        assertEquals("dma bench vit-step", process);
        assertEquals(1, steps);
        for (JsonNode r : rows) {
            String row = (r.get("phase").asText() + " " + r.get("op").asText() + " " + r.get("shape").asText()).trim();
            assertTrue(seen.contains(row), "no event for the profile's row '" + row + "'");
        }
        assertTrue(seen.contains("backward attention [8, 50, 32]"), seen.toString());
        // on their threads' named tracks (checked above); which threads is the scheduler's choice: the caller of a parallel
        // region runs every chunk no team thread has started, so on a loaded machine one thread may run them all
        assertFalse(chunkThreads.isEmpty(), "parallel chunks are on the timeline");

        out.getBuffer().setLength(0);
        assertEquals(0, run("bench", "resnet-step", "--no-peer", "--json", "--batch", "2", "--depth", "8", "--threads", "1",
                "--trace", file.toString()), err.toString());
        int resnetSteps = 0;
        for (JsonNode e : Report.JSON.readTree(file.toFile()).get("traceEvents")) if (e.path("cat").asText().equals("step")) resnetSteps++;
        assertEquals(ProfileOption.TRACE_STEPS, resnetSteps, "--trace alone profiles a few steps");
    }

    @Test
    void resnetStepRoundsPoolTheirRepetitions() throws Exception {
        assertEquals(0, run("bench", "resnet-step", "--no-peer", "--json", "--batch", "2", "--depth", "8", "--rounds", "2",
                "--threads", "1"), err.toString());
        JsonNode j = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString());
        assertEquals(10, j.get("ours").get("images_per_s").size(), "2 rounds of 5 repetitions");
        assertNotEquals(0, run("bench", "resnet-step", "--no-peer", "--rounds", "0"));
        assertTrue(err.toString().contains("--rounds must be at least 1"), err.toString());
        assertNotEquals(0, run("bench", "deit-step", "--backend", "cpu", "--no-peer", "--rounds", "2"));
        assertTrue(err.toString().contains("--rounds 2 is not supported"), err.toString());
    }

    @Test
    void abRunsTwoBuildsInTurnsInOneJvm() throws Exception {
        // this build against itself (the test class path as the "other" build): two class loaders, steps in turns
        String self = System.getProperty("java.class.path");
        assertEquals(0, run("bench", "ab", self, "--depth", "8", "--batch", "2", "--reps", "5", "--threads", "1", "--json"), err.toString());
        JsonNode j = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString());
        assertEquals("resnet-step", j.get("workload").asText());
        assertEquals(5, j.get("this").get("step_s").size());
        assertEquals(5, j.get("other_build").get("step_s").size());
        double ratio = j.get("ratio").get("median").asDouble();
        assertTrue(ratio > 0.25 && ratio < 4, "the same code in two class loaders: " + ratio);
        assertNotEquals(0, run("bench", "ab", "/nonexistent/dma.jar", "--depth", "8", "--batch", "2"));
        assertTrue(err.toString().contains("/nonexistent/dma.jar does not exist"), err.toString());
    }

    @Test
    void deitStepOnTheCpuCountsTheSameFlopsAsTheModelFormula() throws Exception {
        // one block at batch 1: the whole GPU benchmark's path (model, AdamW, timing, MFU, JSON) in a few seconds here
        assertEquals(0, run("bench", "deit-step", "--backend", "cpu", "--batch", "1", "--depth", "1", "--no-peer", "--json",
                "--ceiling-tflops", "1", "--threads", "2"), err.toString());
        JsonNode j = Report.JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(out.toString());
        assertEquals("deit-step", j.get("workload").asText());
        assertEquals("cpu", j.get("backend").asText());
        // what the ops issued equals the analytic count that MFU uses (so the peer's MFU is on the same footing)
        assertEquals(j.get("model_flops_per_step").asDouble(), j.get("issued_flops_per_step").asDouble(), 1.0);
        JsonNode ours = j.get("ours");
        assertEquals(5, ours.get("images_per_s").size());
        double mfu = ours.get("mfu").asDouble(), expected = ours.get("median").asDouble() * j.get("model_flops_per_step").asDouble() / 1e12;
        assertEquals(expected, mfu, 1e-12);
        assertTrue(j.get("ratio").isNull());
    }

    @Test
    void deitStepFlopsMatchDeitSmall() {
        // timm lists DeiT-S at 4.6 GMACs per image: 9.2 GFLOP forward, three times that for a training step
        double perImage = DeitStepBench.trainingFlopsPerImage(dma.models.vit.ViTConfig.preset("deit_small_patch16_224"));
        assertTrue(perImage > 27.4e9 && perImage < 27.8e9, String.valueOf(perImage));
    }

    @Test
    void gpuWorkloadsWithoutAGpuSayWhy() {
        String why = dma.engine.Backends.unavailableReason("cuda");
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is present: the failure path is not reachable here");
        assertEquals(2, run("bench", "gemm", "--backend", "cuda", "--no-peer"));
        assertTrue(err.toString().contains(why), err.toString());
        assertEquals(2, run("bench", "deit-step", "--bf16", "--no-peer", "--json"));
        assertTrue(err.toString().contains(why), err.toString());
        assertEquals("", out.toString(), "nothing on stdout when the backend cannot open");
    }

    @Test
    void sideBySideChecksItsArgumentsBeforeRunning(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        java.nio.file.Path outDir = dir.resolve("never");
        assertNotEquals(0, run("bench", "side-by-side", "--out", outDir.toString(), "--reps", "2"));
        assertTrue(err.toString().contains("--reps must be at least 5"), err.toString());
        assertNotEquals(0, run("bench", "side-by-side", "--out", outDir.toString(), "--only", "gemm,conv"));
        assertTrue(err.toString().contains("unknown workload 'conv'"), err.toString());
        assertTrue(java.nio.file.Files.notExists(outDir), "nothing is written before the arguments are checked");
    }

    @Test
    void badGpuArgumentsAreUsageErrors() {
        assertNotEquals(0, run("bench", "gemm", "--dtype", "bf16"));
        assertTrue(err.toString().contains("--dtype bf16 is measured on the GPU only"), err.toString());
        assertNotEquals(0, run("bench", "gemm", "--backend", "tpu"));
        assertTrue(err.toString().contains("--backend must be cpu or cuda"), err.toString());
        assertNotEquals(0, run("bench", "deit-step", "--backend", "cpu", "--batch", "0"));
        assertTrue(err.toString().contains("--batch must be at least 1"), err.toString());
        assertNotEquals(0, run("bench", "deit-step", "--backend", "cpu", "--drop-path", "1.5"));
        assertTrue(err.toString().contains("--drop-path must be in [0, 1)"), err.toString());
    }

    @Test
    void tooFewRepsIsAUsageError() {
        assertNotEquals(0, run("bench", "gemm", "--no-peer", "--reps", "2"));
        assertTrue(err.toString().contains("--reps must be at least 5"), err.toString());
    }
}
