package dma.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dma.trainer.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code dma bench cost-growth} at tiny sizes: its arguments and every file it writes (no timing checked). */
class CostGrowthBenchTest {
    private final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    @Test
    void writesTablesJsonAndPlots(@TempDir Path dir) throws IOException {
        Path res = dir.resolve("cost");
        // target: depth 3 in 3 modules, so hybrid 1 has a frozen block on each side of the module
        assertEquals(0, run("bench", "cost-growth", "--batch", "2", "--depths", "1,3", "--widths", "16,32", "--base-depth", "3",
                "--base-width", "16", "--head-width", "16", "--modules", "3", "--module", "1", "--threads", "1", "--out", res.toString()), err.toString());
        for (String png : new String[]{"depth.png", "width.png", "incubation.png"})
            assertArrayEquals(new byte[]{(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(Files.readAllBytes(res.resolve(png)), 4), png);
        String md = Files.readString(res.resolve("README.md"));
        assertEquals(out.toString(), md);
        assertTrue(md.contains("`dma bench cost-growth --batch 2 --depths 1,3 "), md);
        assertTrue(md.contains("| 1 | 1 + 1 + 1 |"), md); // module 1: prefix block, module block, suffix block

        JsonNode j = Report.JSON.readTree(res.resolve("cost-growth.json").toFile());
        assertEquals(2, j.get("batch").asInt());
        assertTrue(j.get("load_before").asText().matches("[0-9.]+ [0-9.]+ [0-9.]+"), j.get("load_before").asText());
        JsonNode depths = j.get("depth_sweep"), widths = j.get("width_sweep");
        assertEquals(2, depths.size());
        assertEquals(1, depths.get(0).get("depth").asInt());
        assertEquals(3, depths.get(1).get("depth").asInt());
        assertEquals(16, depths.get(1).get("width").asInt());
        assertEquals(2, widths.get(1).get("heads").asInt()); // width 32 / head width 16
        assertEquals(5, widths.get(1).get("seconds").size());
        assertTrue(depths.get(1).get("flops_per_step").get("forward").asLong() > depths.get(0).get("flops_per_step").get("forward").asLong());

        JsonNode inc = j.get("incubation");
        assertEquals(1, inc.size());
        JsonNode m = inc.get(0);
        assertEquals(1, m.get("module").asInt());
        assertEquals(1, m.get("prefix_blocks").asInt());
        assertEquals(1, m.get("suffix_blocks").asInt());
        JsonNode fi = m.get("incubation").get("flops_per_step"), fn = m.get("naive").get("flops_per_step");
        assertEquals(fn.get("forward").asLong(), fi.get("forward").asLong()); // the same forward
        // the frozen prefix has no tape: no input gradients behind the module; the frozen suffix: no weight gradients
        assertTrue(fi.get("input_grad").asLong() < fn.get("input_grad").asLong(), m.toString());
        assertTrue(fi.get("weight_grad").asLong() < fn.get("weight_grad").asLong(), m.toString());
        assertTrue(m.get("ratio_naive_over_incubation").asDouble() > 0);
        // the prefix in a scope of its own does the same work as one kept on the step's scope, and holds less memory
        JsonNode kept = m.get("incubation_prefix_kept");
        assertEquals(fi, kept.get("flops_per_step"));
        assertTrue(m.get("incubation").get("peak_mb").asDouble() < kept.get("peak_mb").asDouble(), m.toString());
    }

    @Test
    void badArgumentsAreUsageErrors(@TempDir Path dir) {
        String outDir = dir.resolve("never").toString();
        assertNotEquals(0, run("bench", "cost-growth", "--reps", "2", "--out", outDir));
        assertTrue(err.toString().contains("--reps must be at least 5"), err.toString());
        assertNotEquals(0, run("bench", "cost-growth", "--widths", "48,64", "--out", outDir));
        assertTrue(err.toString().contains("width 48 is not a positive multiple of --head-width 64"), err.toString());
        assertNotEquals(0, run("bench", "cost-growth", "--depths", "0", "--out", outDir));
        assertTrue(err.toString().contains("--depths must be positive"), err.toString());
        assertNotEquals(0, run("bench", "cost-growth", "--modules", "13", "--out", outDir));
        assertTrue(err.toString().contains("--modules must be between 1 and --base-depth 12"), err.toString());
        assertNotEquals(0, run("bench", "cost-growth", "--modules", "1", "--out", outDir));
        assertTrue(err.toString().contains("leaves no frozen meta block"), err.toString());
        assertNotEquals(0, run("bench", "cost-growth", "--module", "4", "--out", outDir));
        assertTrue(err.toString().contains("--module 4: modules are 0..3"), err.toString());
        assertTrue(Files.notExists(Path.of(outDir)), "nothing is written before the arguments are checked");
        assertEquals("", out.toString());
    }
}
