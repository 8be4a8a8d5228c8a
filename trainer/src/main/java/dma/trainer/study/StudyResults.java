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

    /**
     * A finished run as the results folder holds it.
     *
     * @param lateGain per method, how its final stage's curves moved over the stage's last quarter (null where not logged)
     */
    public record Run(String cell, Map<String, JsonNode> values, Summary summary, Map<String, LateGain> lateGain) {}

    /**
     * How much a stage still learned at its end, the study's test of convergence: the change of the logged test accuracy
     * (on the first eval_limit test images) from the last evaluation at or before 75% of the steps to the final one, and
     * the change of the mean training loss from the third quarter of the steps to the fourth (under a cosine schedule the
     * loss keeps falling as the rate decays, so the accuracy's change is the one to read).
     */
    public record LateGain(double accuracy, double loss) {
        static LateGain of(List<MetricsLog.Metric> metrics) {
            if (metrics.isEmpty()) return null;
            long total = metrics.get(metrics.size() - 1).step();
            Double at75 = null, end = null;
            double third = 0, fourth = 0;
            int n3 = 0, n4 = 0;
            for (MetricsLog.Metric m : metrics) {
                if (m.evalAccuracy() != null) {
                    if (m.step() <= 0.75 * total) at75 = m.evalAccuracy();
                    end = m.evalAccuracy();
                }
                if (m.step() > 0.75 * total) {
                    fourth += m.loss();
                    n4++;
                } else if (m.step() > 0.5 * total) {
                    third += m.loss();
                    n3++;
                }
            }
            return new LateGain(at75 == null || end == null ? Double.NaN : end - at75, n3 == 0 || n4 == 0 ? Double.NaN : fourth / n4 - third / n3);
        }
    }

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
        dma.engine.io.AtomicFile.write(out.resolve(Summary.JSON_FILE), Files.readAllBytes(runDir.resolve(Summary.JSON_FILE)));
    }

    /** Every finished run of the study's cells, in the study's order (cells not finished are left out). */
    public static List<Run> read(Study study) throws IOException {
        List<Run> runs = new ArrayList<>();
        for (Study.Cell c : study.cells()) {
            if (!done(study, c)) continue;
            Summary s = Summary.read(dir(study, c));
            Map<String, LateGain> late = new LinkedHashMap<>();
            for (Summary.MethodResult m : s.methods()) {
                Path f = dir(study, c).resolve("metrics").resolve(m.stages().get(m.stages().size() - 1) + ".jsonl");
                if (Files.isRegularFile(f)) late.put(m.method(), LateGain.of(MetricsLog.read(f)));
            }
            runs.add(new Run(c.name(), c.values(), s, late));
        }
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
     * training loss, training-set accuracy, training FLOPs, wall time and CPU time.
     */
    public record Row(Map<String, JsonNode> experiment, String method, Stats accuracy, Stats trainLoss, Stats trainAccuracy, Stats flops,
                      Stats wallSeconds, Stats cpuSeconds, Stats lateAccuracyGain, Stats lateLossChange, List<String> cells) {}

    /**
     * What a modular method's stages reached and cost in one run: the meta model's test accuracy, each of its K hybrids', the
     * assembled model's before fine-tuning and the fine-tuned one's; training FLOPs of the meta model, the modules and
     * fine-tuning; wall time and CPU time run one stage after another and as it would be with the K module stages on K
     * machines at once (the longest of them instead of their sum); CPU time NaN where a stage did not measure it.
     */
    public record Breakdown(double meta, List<Double> hybrids, double assembled, double finetuned, double metaFlops, double moduleFlops,
                            double finetuneFlops, double wallSequential, double wallOnKMachines, double cpuSequential, double cpuOnKMachines) {
        /** The breakdown of a modular method's stages, or null for a method without modules (E2E). */
        static Breakdown of(Summary s, Summary.MethodResult m) {
            Map<String, Summary.StageResult> byName = new LinkedHashMap<>();
            for (Summary.StageResult r : s.stages()) byName.put(r.name(), r);
            double meta = Double.NaN, assembled = Double.NaN, finetuned = Double.NaN, metaFlops = 0, moduleFlops = 0, finetuneFlops = 0;
            double wall = 0, longestModule = 0, moduleWall = 0, cpu = 0, longestModuleCpu = 0, moduleCpu = 0;
            List<Double> hybrids = new ArrayList<>();
            for (String name : m.stages()) {
                Summary.StageResult r = byName.get(name);
                if (r == null) continue;
                wall += r.wallSeconds();
                double stageCpu = r.cpuSeconds() == null ? Double.NaN : r.cpuSeconds();
                cpu += stageCpu;
                double acc = r.accuracy() == null ? Double.NaN : r.accuracy();
                switch (dma.trainer.stage.StageId.parse(name).kind()) {
                    case META -> { meta = acc; metaFlops += r.totalFlops(); }
                    case MODULE -> {
                        hybrids.add(acc);
                        moduleFlops += r.totalFlops();
                        moduleWall += r.wallSeconds();
                        longestModule = Math.max(longestModule, r.wallSeconds());
                        moduleCpu += stageCpu;
                        longestModuleCpu = Double.isNaN(stageCpu) ? Double.NaN : Math.max(longestModuleCpu, stageCpu);
                    }
                    case ASSEMBLE -> assembled = acc;
                    case FINETUNE -> { finetuned = acc; finetuneFlops += r.totalFlops(); }
                    default -> { }
                }
            }
            if (hybrids.isEmpty()) return null;
            return new Breakdown(meta, hybrids, assembled, finetuned, metaFlops, moduleFlops, finetuneFlops, wall,
                    wall - moduleWall + longestModule, cpu, cpu - moduleCpu + longestModuleCpu);
        }
    }

    /** One experiment and modular method over its seeds: each field of {@link Breakdown} as statistics. */
    public record StageRow(Map<String, JsonNode> experiment, String method, Map<String, Stats> stats, int n) {}

    /** The modular methods' breakdowns grouped by experiment and method, in the study's order. */
    public static List<StageRow> stageRows(List<Run> runs) {
        Map<String, Map<String, List<Breakdown>>> groups = new LinkedHashMap<>();
        Map<String, Map<String, JsonNode>> experiments = new LinkedHashMap<>();
        for (Run r : runs) {
            Map<String, JsonNode> exp = new LinkedHashMap<>(r.values());
            exp.remove(Study.SEED);
            String key = exp.toString();
            experiments.put(key, exp);
            for (Summary.MethodResult m : r.summary().methods()) {
                Breakdown b = Breakdown.of(r.summary(), m);
                if (b != null) groups.computeIfAbsent(key, k -> new LinkedHashMap<>()).computeIfAbsent(m.method(), k -> new ArrayList<>()).add(b);
            }
        }
        List<StageRow> rows = new ArrayList<>();
        groups.forEach((key, byMethod) -> byMethod.forEach((method, bs) -> {
            Map<String, Stats> st = new LinkedHashMap<>();
            st.put("meta", Stats.of(bs.stream().map(Breakdown::meta).toList()));
            for (int i = 0; i < bs.get(0).hybrids().size(); i++) {
                int module = i;
                st.put("hybrid_" + i, Stats.of(bs.stream().map(b -> module < b.hybrids().size() ? b.hybrids().get(module) : Double.NaN).toList()));
            }
            st.put("assembled", Stats.of(bs.stream().map(Breakdown::assembled).toList()));
            st.put("finetuned", Stats.of(bs.stream().map(Breakdown::finetuned).toList()));
            st.put("meta_flops", Stats.of(bs.stream().map(Breakdown::metaFlops).toList()));
            st.put("module_flops", Stats.of(bs.stream().map(Breakdown::moduleFlops).toList()));
            st.put("finetune_flops", Stats.of(bs.stream().map(Breakdown::finetuneFlops).toList()));
            st.put("wall_sequential", Stats.of(bs.stream().map(Breakdown::wallSequential).toList()));
            st.put("wall_on_k_machines", Stats.of(bs.stream().map(Breakdown::wallOnKMachines).toList()));
            st.put("cpu_sequential", Stats.of(bs.stream().map(Breakdown::cpuSequential).toList()));
            st.put("cpu_on_k_machines", Stats.of(bs.stream().map(Breakdown::cpuOnKMachines).toList()));
            rows.add(new StageRow(experiments.get(key), method, st, bs.size()));
        }));
        return rows;
    }

    /** The runs grouped by experiment and method, in the study's order. */
    public static List<Row> rows(List<Run> runs) {
        Map<String, Map<String, List<Summary.MethodResult>>> groups = new LinkedHashMap<>();
        Map<String, Map<String, JsonNode>> experiments = new LinkedHashMap<>();
        Map<String, List<String>> cells = new LinkedHashMap<>();
        Map<String, Map<String, List<LateGain>>> late = new LinkedHashMap<>();
        for (Run r : runs) {
            Map<String, JsonNode> exp = new LinkedHashMap<>(r.values());
            exp.remove(Study.SEED);
            String key = exp.toString();
            experiments.put(key, exp);
            cells.computeIfAbsent(key, k -> new ArrayList<>()).add(r.cell());
            for (Summary.MethodResult m : r.summary().methods()) {
                groups.computeIfAbsent(key, k -> new LinkedHashMap<>()).computeIfAbsent(m.method(), k -> new ArrayList<>()).add(m);
                LateGain g = r.lateGain().get(m.method());
                if (g != null) late.computeIfAbsent(key, k -> new LinkedHashMap<>()).computeIfAbsent(m.method(), k -> new ArrayList<>()).add(g);
            }
        }
        List<Row> rows = new ArrayList<>();
        groups.forEach((key, byMethod) -> byMethod.forEach((method, ms) -> rows.add(new Row(experiments.get(key), method,
                Stats.of(ms.stream().map(Summary.MethodResult::accuracy).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::trainLoss).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::trainAccuracy).toList()),
                Stats.of(ms.stream().map(m -> (double) m.totalFlops()).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::wallSeconds).toList()),
                Stats.of(ms.stream().map(Summary.MethodResult::cpuSeconds).toList()),
                Stats.of(late.getOrDefault(key, Map.of()).getOrDefault(method, List.of()).stream().map(LateGain::accuracy).toList()),
                Stats.of(late.getOrDefault(key, Map.of()).getOrDefault(method, List.of()).stream().map(LateGain::loss).toList()),
                cells.get(key)))));
        return rows;
    }
}
