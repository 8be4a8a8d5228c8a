package dma.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dma.trainer.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * 1,000 training steps of a small ViT and of a small ResNet in a process of their own: live tensor bytes return to
 * their value after the first step after every step, and the resident set stops growing after warm-up. The process's
 * heap is fixed and touched at start (-Xms = -Xmx, AlwaysPreTouch) so that RSS measures what could leak outside the
 * garbage collector's bounds: tensors' native memory, the allocator's cache, native handles.
 */
class MemoryBenchTest {
    @Test
    void onTheCpu(@TempDir Path dir) throws Exception {
        liveBytesReturnToBaselineAfterEveryStepAndRssStopsGrowing("cpu", dir);
    }

    @Test
    void onTheGpu(@TempDir Path dir) throws Exception {
        String why = dma.engine.Backends.unavailableReason("cuda");
        assumeTrue(why == null, "no GPU: " + why);
        liveBytesReturnToBaselineAfterEveryStepAndRssStopsGrowing("cuda", dir);
    }

    private static void liveBytesReturnToBaselineAfterEveryStepAndRssStopsGrowing(String backend, Path dir) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(dma.trainer.launch.DmaCommand.JVM_FLAGS);
        cmd.addAll(List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "bench", "memory", "--backend", backend, "--steps", "1000", "--threads", "2", "--out", dir.toString()));
        Path log = dir.resolve("log.txt");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "finished within 10 minutes");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        JsonNode j = Report.JSON.readTree(dir.resolve("memory.json").toFile());
        assertEquals(2, j.get("workloads").size(), out);
        for (JsonNode w : j.get("workloads")) {
            assertEquals(0, w.get("steps_off_baseline").asInt(), w.toString());
            assertTrue(w.get("baseline_live_bytes").asLong() > 0, "parameters, gradients and moments are live: " + w);
            assertTrue(w.get("rss_growth_mb").asDouble() <= j.get("max_growth_mb").asDouble(), w.toString());
        }
        assertEquals(1 + 2 * 1000, Files.readAllLines(dir.resolve("memory.csv")).size(), "a row per workload and step");
        assertTrue(Files.size(dir.resolve("memory.png")) > 1000);
    }
}
