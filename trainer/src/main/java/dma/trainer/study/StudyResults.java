package dma.trainer.study;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.trainer.report.MetricsLog;
import dma.trainer.report.Summary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A study's results folder: per finished run, {@code <results>/<cell>/} with {@code cell.json} (the axes' values),
 * {@code summary.json}, {@code summary.md}, {@code resolved.json}, {@code config.json} and {@code metrics/<stage>.jsonl},
 * small files meant to be committed. {@code summary.json} is copied last: its presence marks a run done.
 */
public final class StudyResults {
    private StudyResults() {}

    /** A finished run as the results folder holds it. */
    public record Run(String cell, Map<String, JsonNode> values, Summary summary) {}

    public static Path dir(Study study, Study.Cell cell) {
        return study.results().resolve(cell.name());
    }

    /** Whether the results folder holds this cell's summary (then it is not run again). */
    public static boolean done(Study study, Study.Cell cell) {
        return Files.isRegularFile(dir(study, cell).resolve(Summary.JSON_FILE));
    }

    /** Copies a finished run's small files into the results folder, summary.json last. */
    public static void collect(Study study, Study.Cell cell, Path runDir) throws IOException {
        Path out = Files.createDirectories(dir(study, cell));
        ObjectNode values = Study.JSON.createObjectNode();
        cell.values().forEach(values::set);
        Files.writeString(out.resolve("cell.json"), Study.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(values) + "\n");
        for (String f : List.of("config.json", "resolved.json", Summary.MARKDOWN_FILE))
            if (Files.isRegularFile(runDir.resolve(f))) Files.copy(runDir.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        Path metrics = Files.createDirectories(out.resolve("metrics"));
        try (Stream<Path> stages = Files.list(runDir)) {
            for (Path stage : stages.sorted().toList())
                if (Files.isRegularFile(stage.resolve(MetricsLog.FILE)))
                    Files.copy(stage.resolve(MetricsLog.FILE), metrics.resolve(stage.getFileName() + ".jsonl"), StandardCopyOption.REPLACE_EXISTING);
        }
        Path tmp = out.resolve("." + Summary.JSON_FILE + ".tmp");
        Files.copy(runDir.resolve(Summary.JSON_FILE), tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, out.resolve(Summary.JSON_FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Every finished run of the study's cells, in the study's order (cells not finished are left out). */
    public static List<Run> read(Study study) throws IOException {
        List<Run> runs = new ArrayList<>();
        for (Study.Cell c : study.cells())
            if (done(study, c)) runs.add(new Run(c.name(), c.values(), Summary.read(dir(study, c))));
        return runs;
    }

    /** Mean, sample standard deviation, minimum, maximum and count of some numbers (NaN ones left out). */
    public record Stats(double mean, double sd, double min, double max, int n) {
        public static Stats of(List<Double> xs) {
            List<Double> v = xs.stream().filter(d -> d != null && Double.isFinite(d)).toList();
            int n = v.size();
            if (n == 0) return new Stats(Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0);
            double mean = v.stream().mapToDouble(Double::doubleValue).sum() / n, ss = 0;
            for (double x : v) ss += (x - mean) * (x - mean);
            return new Stats(mean, n > 1 ? Math.sqrt(ss / (n - 1)) : Double.NaN, v.stream().min(Comparator.naturalOrder()).get(),
                    v.stream().max(Comparator.naturalOrder()).get(), n);
        }
    }

    /**
     * One experiment (a cell without its seed) and one method, over the experiment's seeds: test accuracy, final
     * training loss, training-set accuracy, training FLOPs and wall time.
     */
    public record Row(Map<String, JsonNode> experiment, String method, Stats accuracy, Stats trainLoss, Stats trainAccuracy, Stats flops,
                      Stats wallSeconds, List<String> cells) {}

    /** The runs grouped by experiment and method, in the study's order. */
    public static List<Row> rows(List<Run> runs) {
        Map<String, Map<String, List<Summary.MethodResult>>> groups = new LinkedHashMap<>();
        Map<String, Map<String, JsonNode>> experiments = new LinkedHashMap<>();
        Map<String, List<String>> cells = new LinkedHashMap<>();
        for (Run r : runs) {
            Map<String, JsonNode> exp = new LinkedHashMap<>(r.values());
            exp.remove(Study.SEED);
            String key = exp.toString();
            experiments.put(key, exp);
            cells.computeIfAbsent(key, k -> new ArrayList<>()).add(r.cell());
            for (Summary.MethodResult m : r.summary().methods())
                groups.computeIfAbsent(key, k -> new LinkedHashMap<>()).computeIfAbsent(m.method(), k -> new ArrayList<>()).add(m);
        }
        List<Row> rows = new ArrayList<>();
        groups.forEach((key, byMethod) -> byMethod.forEach((method, ms) -> rows.add(new Row(experiments.get(key), method,
                Stats.of(ms.stream().map(Summary.MethodResult::accuracy).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::trainLoss).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::trainAccuracy).toList()),
                Stats.of(ms.stream().map(m -> (double) m.totalFlops()).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::wallSeconds).toList()), cells.get(key)))));
        return rows;
    }
}
