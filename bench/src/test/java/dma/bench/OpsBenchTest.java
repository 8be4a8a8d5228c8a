package dma.bench;

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
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code dma bench ops}: its arguments, and the table it prints and writes, at tiny shapes run in this JVM (no timing checked). */
class OpsBenchTest {
    private final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    /** The table's rows (benchmark, shape, µs per call, GB/s, GFLOP/s), header and ruler left out. */
    private static List<String[]> rows(String markdown) {
        return markdown.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| benchmark"))
                .map(l -> Arrays.stream(l.substring(1, l.length() - 1).split("\\|")).map(String::strip).toArray(String[]::new)).toList();
    }

    @Test
    void writesOneRowPerBenchmarkWithItsShapeAndRate(@TempDir Path dir) throws IOException {
        Path md = dir.resolve("results/ops.md"); // the folder is created
        assertEquals(0, run("bench", "ops", "--forks", "0", "--warmup", "0", "--iterations", "1", "--time", "20ms", "--threads", "1", "--quiet",
                "--only", "LayerNormJmh|Im2colJmh.im2col|AttentionJmh.fused", "-p", "batch=2", "-p", "tokens=3", "-p", "width=8", "-p", "heads=2",
                "-p", "conv=3x8s2", "--out", md.toString()), err.toString());
        String table = Files.readString(md);
        assertEquals(out.toString(), table);
        assertTrue(table.contains("`dma bench ops --forks 0 ") && table.contains("--only 'LayerNormJmh|Im2colJmh.im2col|AttentionJmh.fused'"), table);
        assertTrue(table.contains("Load average"), table);
        List<String[]> rows = rows(table);
        // LayerNorm first (the table's order), then attention, then im2col; JMH's order within a class
        assertEquals(List.of("LayerNorm.backward", "LayerNorm.forward", "Attention.fusedBackward", "Attention.fusedForward", "Im2col.im2col"),
                rows.stream().map(r -> r[0]).toList());
        assertEquals("[6, 8]", rows.get(0)[1]);
        assertEquals("[4, 3, 4]", rows.get(2)[1]);
        assertEquals("[2, 3, 8, 8] → [27, 32], 3×3 stride 2", rows.get(4)[1]);
        for (String[] r : rows) {
            assertTrue(Double.parseDouble(r[2]) > 0, r[0] + " µs per call: " + r[2]);
            boolean flops = r[0].startsWith("Attention");
            String rate = flops ? r[4] : r[3];
            assertTrue(Double.parseDouble(rate) > 0, r[0] + " rate: " + rate);
            assertEquals("", flops ? r[3] : r[4], r[0]);
        }
    }

    @Test
    void theShapeParametersAreTheBenchmarks() {
        assertEquals(Set.of("batch", "tokens", "width", "heads", "mlpRatio", "depth", "conv"), OpsBench.shapeParameters());
    }

    @Test
    void badArgumentsAreUsageErrors() {
        assertNotEquals(0, run("bench", "ops", "-p", "size=3"));
        assertTrue(err.toString().contains("-p size: no benchmark has that parameter (known: batch, conv, depth, heads, mlpRatio, tokens, width)"), err.toString());
        assertNotEquals(0, run("bench", "ops", "-p", "threads=1"));
        assertTrue(err.toString().contains("set the threads with --threads"), err.toString());
        assertNotEquals(0, run("bench", "ops", "-p", "batch=2,"));
        assertTrue(err.toString().contains("empty value"), err.toString());
        assertNotEquals(0, run("bench", "ops", "--iterations", "0"));
        assertTrue(err.toString().contains("--iterations must be at least 1"), err.toString());
        assertNotEquals(0, run("bench", "ops", "--forks", "-1"));
        assertTrue(err.toString().contains("--forks must be 0 or more"), err.toString());
        assertNotEquals(0, run("bench", "ops", "--time", "soon"));
        assertTrue(err.toString().contains("--time 'soon' is not a duration"), err.toString());
        assertNotEquals(0, run("bench", "ops", "--only", "(unclosed"));
        assertTrue(err.toString().contains("--only is not a regular expression"), err.toString());
        assertEquals("", out.toString());
    }

    @Test
    void anUnmatchedFilterSaysSo() {
        assertNotEquals(0, run("bench", "ops", "--forks", "0", "--quiet", "--only", "NoSuchOp"));
        assertTrue(err.toString().contains("no benchmark matches --only 'NoSuchOp'"), err.toString());
    }
}
