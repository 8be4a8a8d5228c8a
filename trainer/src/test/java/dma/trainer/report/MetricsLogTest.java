package dma.trainer.report;

import dma.trainer.report.MetricsLog.Metric;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsLogTest {
    static final Metric A = new Metric("meta", 10, 0, 2.3, 1e-4, 512.5, null, 3.25, 1_000_000_000L);
    static final Metric B = new Metric("meta", 20, 1, 1.9, 2e-4, 530, 0.415, 6.5, 2_000_000_000L);
    static final Metric C = new Metric("incubate-0", 5, 0, Double.NaN, 5e-4, 100, null, 1, 7);

    @Test
    void roundTripsWithSnakeCaseNames(@TempDir Path dir) throws IOException {
        try (MetricsLog log = new MetricsLog(dir)) {
            log.log(A);
            log.log(B);
            log.log(C);
        }
        Path file = dir.resolve("metrics.jsonl");
        List<String> lines = Files.readAllLines(file);
        assertEquals(3, lines.size());
        for (String key : new String[]{"\"stage\":", "\"step\":", "\"epoch\":", "\"loss\":", "\"lr\":", "\"images_per_s\":",
                "\"eval_acc\":", "\"wall_s\":", "\"flops\":"})
            assertTrue(lines.get(1).contains(key), key + " in " + lines.get(1));
        assertTrue(lines.get(0).contains("\"eval_acc\":null"), lines.get(0));
        assertTrue(lines.get(2).contains("\"loss\":NaN"), lines.get(2)); // bare, as Python's json reads it
        assertEquals(List.of(A, B, C), MetricsLog.read(file)); // record equals treats NaN as equal to NaN
    }

    @Test
    void ignoresTruncatedLastLineAndResumesCleanly(@TempDir Path dir) throws IOException {
        try (MetricsLog log = new MetricsLog(dir)) {
            log.log(A);
            log.log(B);
        }
        Path file = dir.resolve(MetricsLog.FILE);
        byte[] all = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(all, all.length - 12)); // killed in the middle of writing B
        assertEquals(List.of(A), MetricsLog.read(file));

        try (MetricsLog log = new MetricsLog(dir)) { // the resumed run drops the fragment and appends
            log.log(C);
        }
        assertEquals(List.of(A, C), MetricsLog.read(file));
        assertEquals(2, Files.readAllLines(file).size());
    }

    @Test
    void aFileOfOnlyAFragmentReadsEmpty(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve(MetricsLog.FILE), "{\"stage\":\"me");
        assertEquals(List.of(), MetricsLog.read(dir.resolve(MetricsLog.FILE)));
        try (MetricsLog log = new MetricsLog(dir)) {
            log.log(A);
        }
        assertEquals(List.of(A), MetricsLog.read(dir.resolve(MetricsLog.FILE)));
    }

    @Test
    void corruptionBeforeTheLastLineIsAnError(@TempDir Path dir) throws IOException {
        Path file = dir.resolve(MetricsLog.FILE);
        try (MetricsLog log = new MetricsLog(dir)) {
            log.log(A);
        }
        Files.write(file, "garbage\n".getBytes(StandardCharsets.UTF_8), StandardOpenOption.APPEND);
        try (MetricsLog log = new MetricsLog(dir)) {
            log.log(B);
        }
        assertThrows(IOException.class, () -> MetricsLog.read(file));
    }
}
