package dma.trainer.report;

import dma.trainer.report.Summary.MethodResult;
import dma.trainer.report.Summary.StageResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SummaryTest {
    static Summary sample() {
        return Summary.of(List.of(
                new StageResult("e2e", "e2e", 125, 500_000_000_000_000L, 500_000_000_000_000L, 500_000_000_000_000L, 60_000, 0.80, null),
                new StageResult("meta", "assembling", 20, 10_000_000_000_000L, 10_000_000_000_000L, 10_000_000_000_000L, 20_000, 0.70, 38.0),
                new StageResult("incubate-0", "assembling", 30, 10_000_000_000_000L, 5_000_000_000_000L, 600_000_000_000L, 20_000, null, 55.0),
                new StageResult("finetune", "assembling", 10, 5_000_000_000_000L, 0, 5_000_000_000_000L, 10_000, 0.8125, 0.51234, 0.9,
                        10_000, 5_000, 19.0)));
    }

    @Test
    void totalsPerMethod() {
        List<MethodResult> methods = sample().methods();
        assertEquals(List.of("e2e", "assembling"), methods.stream().map(MethodResult::method).toList());
        assertEquals(1_500_000_000_000_000L, methods.get(0).totalFlops());
        MethodResult asm = methods.get(1);
        assertEquals(55_600_000_000_000L, asm.totalFlops());
        assertEquals(60, asm.wallSeconds());
        assertEquals(112.0, asm.cpuSeconds()); // the stages' CPU seconds together
        assertEquals(null, methods.get(0).cpuSeconds()); // a stage that did not measure it: no total
        assertEquals(0.8125, asm.accuracy()); // the final model's, not the best stage's
        assertEquals(List.of("meta", "incubate-0", "finetune"), asm.stages());
    }

    @Test
    void jsonRoundTripAndAtomicWrite(@TempDir Path dir) throws IOException {
        Summary s = sample();
        s.write(dir);
        s.write(dir); // replacing an existing summary works too
        assertEquals(s, Summary.read(dir.resolve("summary.json")));
        assertEquals(s, Summary.read(dir));
        String json = Files.readString(dir.resolve("summary.json"));
        assertTrue(json.contains("\"forward_flops\""), json);
        assertTrue(json.contains("\"wall_seconds\""), json);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("summary.json", "summary.md"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void unevaluatedMethodRoundTripsAsNaN(@TempDir Path dir) throws IOException {
        Summary s = Summary.of(List.of(new StageResult("select-weights", "weight-selection", 1, 0, 0, 0, 0, null, 0.5)));
        s.write(dir);
        assertTrue(Double.isNaN(Summary.read(dir).methods().get(0).accuracy()));
        assertTrue(s.table().contains("| weight-selection | — | — | — | 0 FLOP | 0:01 | 0:01 | select-weights |"), s.table());
    }

    @Test
    void markdownTables(@TempDir Path dir) throws IOException {
        Summary s = sample();
        String table = s.table();
        assertTrue(table.startsWith("| method | test accuracy | train loss | train accuracy | training cost (FLOPs) | training time | CPU time | stages |\n"), table);
        assertTrue(table.contains("| e2e | 80.00% | — | — | 1.50 PFLOP | 2:05 | — | e2e |"), table);
        assertTrue(table.contains("| assembling | 81.25% | 0.5123 | 90.00% | 55.6 TFLOP | 1:00 | 1:52 | meta, incubate-0, finetune |"), table);
        assertTrue(table.contains("top-1 on the whole test set (10,000 images)") && table.contains("first 5,000 training images"), table);
        s.write(dir);
        String md = Files.readString(dir.resolve("summary.md"));
        assertTrue(md.contains(table), md);
        assertTrue(md.contains("| incubate-0 | assembling | — | — | — | 10.0 TFLOP | 5.00 TFLOP | 600 GFLOP | 15.6 TFLOP | 20000 | 0:30 | 0:55 |"), md);
    }

    @Test
    void humanUnits() {
        assertEquals("1.50 PFLOP", Summary.flops(1.5e15));
        assertEquals("1.23 PFLOP", Summary.flops(1.234e15));
        assertEquals("45.6 TFLOP", Summary.flops(4.56e13));
        assertEquals("1.00 PFLOP", Summary.flops(999.7e12)); // rounds up into the next unit
        assertEquals("10.0 GFLOP", Summary.flops(9.996e9));
        assertEquals("999 FLOP", Summary.flops(999));
        assertEquals("0 FLOP", Summary.flops(0));
        assertEquals("2:05", Summary.clock(125));
        assertEquals("0:00", Summary.clock(0.2));
        assertEquals("1:01:01", Summary.clock(3661));
    }
}
