package dma.trainer.study;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.trainer.report.Plots;
import dma.trainer.report.Summary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code dma study --report}: the study's finished runs aggregated over seeds into {@code <results>/STUDY.md} (a table per
 * method and experiment: mean ± sample standard deviation and the number of seeds), {@code <results>/study.json} (the
 * same numbers for tools) and PNG plots in {@code <results>/plots/}: accuracy against training cost per method, and
 * accuracy against every numeric axis that takes two or more values.
 */
public final class StudyReport {
    private StudyReport() {}

    /** Writes the report of whatever runs have finished; returns the Markdown. */
    public static String write(Study study, boolean plots) throws IOException {
        List<StudyResults.Run> runs = StudyResults.read(study);
        List<StudyResults.Row> rows = StudyResults.rows(runs);
        Files.createDirectories(study.results());
        String md = markdown(study, runs.size(), rows) + stages(study, StudyResults.stageRows(runs));
        Files.writeString(study.results().resolve("STUDY.md"), md);
        Files.writeString(study.results().resolve("study.json"), Study.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json(rows)) + "\n");
        if (plots) plots(study, rows);
        return md;
    }

    static String markdown(Study study, int finished, List<StudyResults.Row> rows) {
        StringBuilder b = new StringBuilder("# Study " + study.name() + "\n\n");
        b.append(String.format(Locale.ROOT, "%d of %d runs finished. Each row: one experiment (the study's cell without its seed) and one method, "
                + "over its seeds: mean ± sample standard deviation (n = seeds). Test accuracy on the whole test set; train loss the "
                + "objective's mean over the final stage's last epoch; train accuracy on the final stage's first training images. "
                + "Acc. gain, last ¼: the final stage's test accuracy (on its curve's eval_limit images) at its end minus at 75%% of its steps; "
                + "loss change, last ¼: its mean training loss over the last quarter minus over the third; a run has converged when the "
                + "accuracy no longer gains. Training time is wall time; CPU time the stages' processes' CPU time, both cores "
                + "together, which work sharing the machine does not inflate (— for runs made before it was measured). Every figure comes from the `summary.json` and metrics of the cells listed in `study.json`.%n%n", finished, study.cells().size()));
        List<String> axes = study.axes().keySet().stream().filter(a -> !a.equals(Study.SEED)).toList();
        b.append("|");
        for (String a : axes) b.append(' ').append(study.label(a)).append(" |");
        b.append(" method | n | test accuracy | train loss | train accuracy | training FLOPs | training time | CPU time | acc. gain, last ¼ | loss change, last ¼ |\n|");
        for (int i = 0; i < axes.size(); i++) b.append("---:|");
        b.append("---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (StudyResults.Row r : rows) {
            b.append("|");
            for (String a : axes) b.append(' ').append(Study.valueText(r.experiment().get(a))).append(" |");
            b.append(String.format(Locale.ROOT, " %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.method(), r.accuracy().n(), percent(r.accuracy()),
                    plain(r.trainLoss(), 4), percent(r.trainAccuracy()), Summary.flops(r.flops().mean()), Summary.clock(r.wallSeconds().mean()),
                    cpu(r.cpuSeconds()), points(r.lateAccuracyGain()), plain(r.lateLossChange(), 4)));
        }
        return b.toString();
    }

    /**
     * The modular methods stage by stage: what the meta model, the hybrids (mean of the K) and the assembled model reached
     * before fine-tuning, where the FLOPs went, and the wall time with the K module stages run one after another or on K
     * machines at once.
     */
    static String stages(Study study, List<StudyResults.StageRow> rows) {
        if (rows.isEmpty()) return "";
        StringBuilder b = new StringBuilder("\n## Stage by stage\n\nModular methods, over seeds (mean ± sample standard deviation): test accuracy "
                + "(whole test set) of the meta model, of the K hybrids (module i in the frozen meta model, i = 1 … K; means over seeds), of the assembled model "
                + "before fine-tuning and after; training FLOPs of the meta model, the K modules and fine-tuning; wall time with the stages one "
                + "after another, and with the K module stages on K machines at once (the longest instead of their sum; the same machine's "
                + "times, so read them as proportions), and the same for CPU time, which work sharing the machine does not inflate.\n\n|");
        List<String> axes = study.axes().keySet().stream().filter(a -> !a.equals(Study.SEED)).toList();
        for (String a : axes) b.append(' ').append(study.label(a)).append(" |");
        b.append(" method | n | meta model | hybrids 1 … K | assembled | fine-tuned | meta FLOPs | module FLOPs | fine-tune FLOPs | wall, sequential | wall, K machines | CPU, sequential | CPU, K machines |\n|");
        for (int i = 0; i < axes.size(); i++) b.append("---:|");
        b.append("---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (StudyResults.StageRow r : rows) {
            b.append("|");
            for (String a : axes) b.append(' ').append(Study.valueText(r.experiment().get(a))).append(" |");
            Map<String, StudyResults.Stats> s = r.stats();
            b.append(String.format(Locale.ROOT, " %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.method(), r.n(), percent(s.get("meta")),
                    hybrids(s), percent(s.get("assembled")), percent(s.get("finetuned")), Summary.flops(s.get("meta_flops").mean()),
                    Summary.flops(s.get("module_flops").mean()), Summary.flops(s.get("finetune_flops").mean()),
                    Summary.clock(s.get("wall_sequential").mean()), Summary.clock(s.get("wall_on_k_machines").mean()),
                    cpu(s.get("cpu_sequential")), cpu(s.get("cpu_on_k_machines"))));
        }
        return b.toString();
    }

    /** A CPU time's mean over the seeds that measured it, — where none did. */
    private static String cpu(StudyResults.Stats s) {
        return s.n() == 0 ? "—" : Summary.clock(s.mean());
    }

    /** Each hybrid's mean test accuracy over seeds: 82.1 / 83.0 / 82.9 / 83.3%. */
    private static String hybrids(Map<String, StudyResults.Stats> s) {
        List<String> each = new ArrayList<>();
        for (int i = 0; s.containsKey("hybrid_" + i); i++) each.add(String.format(Locale.ROOT, "%.1f", 100 * s.get("hybrid_" + i).mean()));
        return String.join(" / ", each) + "%";
    }

    /** An accuracy change in points: +0.42 pt (the mean over seeds). */
    static String points(StudyResults.Stats s) {
        return s.n() == 0 ? "—" : String.format(Locale.ROOT, "%+.2f pt", 100 * s.mean());
    }

    /** 84.13 ± 0.42%, or 84.13% for a single seed. */
    static String percent(StudyResults.Stats s) {
        if (s.n() == 0) return "—";
        return s.n() > 1 ? String.format(Locale.ROOT, "%.2f ± %.2f%%", 100 * s.mean(), 100 * s.sd()) : String.format(Locale.ROOT, "%.2f%%", 100 * s.mean());
    }

    static String plain(StudyResults.Stats s, int decimals) {
        if (s.n() == 0) return "—";
        String f = "%." + decimals + "f";
        return s.n() > 1 ? String.format(Locale.ROOT, f + " ± " + f, s.mean(), s.sd()) : String.format(Locale.ROOT, f, s.mean());
    }

    static ArrayNode json(List<StudyResults.Row> rows) {
        ArrayNode a = Study.JSON.createArrayNode();
        for (StudyResults.Row r : rows) {
            ObjectNode o = a.addObject();
            ObjectNode exp = o.putObject("experiment");
            r.experiment().forEach(exp::set);
            o.put("method", r.method());
            stats(o.putObject("accuracy"), r.accuracy());
            stats(o.putObject("train_loss"), r.trainLoss());
            stats(o.putObject("train_accuracy"), r.trainAccuracy());
            stats(o.putObject("flops"), r.flops());
            stats(o.putObject("wall_seconds"), r.wallSeconds());
            stats(o.putObject("cpu_seconds"), r.cpuSeconds());
            stats(o.putObject("late_accuracy_gain"), r.lateAccuracyGain());
            stats(o.putObject("late_loss_change"), r.lateLossChange());
            ArrayNode cells = o.putArray("cells");
            r.cells().forEach(cells::add);
        }
        return a;
    }

    private static void stats(ObjectNode o, StudyResults.Stats s) {
        o.put("mean", s.mean()).put("sd", s.sd()).put("min", s.min()).put("max", s.max()).put("n", s.n());
    }

    /**
     * Accuracy against cost (a point per experiment and method), against each numeric axis with two or more values, and
     * by each axis of names (an init) with two or more.
     */
    static void plots(Study study, List<StudyResults.Row> rows) throws IOException {
        String unavailable = dma.trainer.stage.Pipeline.plotsUnavailable();
        if (unavailable != null) {
            System.err.println("study: plots not drawn: " + unavailable);
            return;
        }
        Path dir = Files.createDirectories(study.results().resolve("plots"));
        String note = "mean over seeds, bars ± one sample standard deviation; test accuracy on the whole test set";
        Plots.accuracyVsCost(costCurves(study, rows), dir.resolve("accuracy_vs_flops.png"), note);
        for (var axis : study.axes().entrySet()) {
            if (axis.getKey().equals(Study.SEED) || axis.getValue().size() < 2) continue;
            String label = study.label(axis.getKey());
            if (!axis.getValue().stream().allMatch(JsonNode::isNumber)) {
                Plots.accuracyByCategory("Accuracy by " + label, label, columns(study, rows, axis.getKey()),
                        dir.resolve("accuracy_by_" + label + ".png"), note);
                continue;
            }
            // one line per method and combination of the other axes
            Map<String, List<double[]>> series = new LinkedHashMap<>();
            for (StudyResults.Row r : rows)
                series.computeIfAbsent(seriesName(study, r, (a, v) -> !a.equals(axis.getKey())), k -> new ArrayList<>())
                        .add(new double[]{r.experiment().get(axis.getKey()).asDouble(), 100 * r.accuracy().mean(), 100 * r.accuracy().sd()});
            Plots.accuracyAgainst("Accuracy vs " + label, label, series, dir.resolve("accuracy_vs_" + label + ".png"), note);
        }
    }

    /**
     * Accuracy against cost: a curve per method and combination of the axes that are not numbers (an init), along the
     * numeric ones (a budget, a depth); points {FLOPs, mean accuracy %, sd}, by cost.
     */
    static Map<String, List<double[]>> costCurves(Study study, List<StudyResults.Row> rows) {
        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        for (StudyResults.Row r : rows)
            curves.computeIfAbsent(seriesName(study, r, (a, v) -> !v.isNumber()), k -> new ArrayList<>())
                    .add(new double[]{r.flops().mean(), 100 * r.accuracy().mean(), 100 * r.accuracy().sd()});
        curves.values().forEach(points -> points.sort((p, q) -> Double.compare(p[0], q[0])));
        return curves;
    }

    /** A column per value of {@code axis} (in the axis' order), a point {mean %, sd} per method and combination of the other axes. */
    static Map<String, Map<String, double[]>> columns(Study study, List<StudyResults.Row> rows, String axis) {
        Map<String, Map<String, double[]>> columns = new LinkedHashMap<>();
        for (JsonNode v : study.axes().get(axis)) columns.put(Study.valueText(v), new LinkedHashMap<>());
        for (StudyResults.Row r : rows)
            columns.get(Study.valueText(r.experiment().get(axis)))
                    .put(seriesName(study, r, (a, v) -> !a.equals(axis)), new double[]{100 * r.accuracy().mean(), 100 * r.accuracy().sd()});
        return columns;
    }

    /** "e2e, init select-weights": the row's method and the values of the axes that {@code keep} keeps, naming a series. */
    private static String seriesName(Study study, StudyResults.Row r, java.util.function.BiPredicate<String, JsonNode> keep) {
        StringBuilder s = new StringBuilder(r.method());
        r.experiment().forEach((a, v) -> {
            if (keep.test(a, v)) s.append(", ").append(study.label(a)).append(' ').append(Study.valueText(v));
        });
        return s.toString();
    }
}
