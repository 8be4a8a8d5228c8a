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
    void tooFewRepsIsAUsageError() {
        assertNotEquals(0, run("bench", "gemm", "--no-peer", "--reps", "2"));
        assertTrue(err.toString().contains("--reps must be at least 5"), err.toString());
    }
}
