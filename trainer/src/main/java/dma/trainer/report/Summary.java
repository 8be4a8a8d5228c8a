package dma.trainer.report;

import dma.engine.io.AtomicFile;
import com.fasterxml.jackson.annotation.JsonIgnore;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a run cost and reached, per stage and per method (E2E, assembling, imitation, ...), written as
 * {@code summary.json} (for tools) and {@code summary.md} (for people). Accuracies are fractions in [0, 1].
 */
public record Summary(List<StageResult> stages, List<MethodResult> methods) {
    public static final String JSON_FILE = "summary.json", MARKDOWN_FILE = "summary.md";

    /**
     * One stage of one method. FLOPs are split as the incubation cost model counts them (frozen parts compute input
     * gradients only).
     *
     * @param method        "assembling", "e2e", "imitation", "distdata", "weight-selection", ...
     * @param images        training images processed
     * @param accuracy      top-1 of the stage's model on the whole test set after the stage, null when not evaluated
     * @param trainLoss     the training objective's mean over the stage's last epoch (augmentation, smoothing and all), null
     *                      for stages that do not train
     * @param trainAccuracy top-1 of the final model on a fixed sample of the stage's training images, without augmentation
     * @param testImages    test images {@code accuracy} was measured on
     * @param trainSample   training images {@code trainAccuracy} was measured on (the first ones of the stage's training set)
     * @param cpuSeconds    CPU time the stage's process spent on it, all its threads together: unlike wall time, it does not
     *                      grow when other work shares the machine; null where not measured (older runs)
     */
    public record StageResult(String name, String method, double wallSeconds, long forwardFlops, long inputGradFlops,
                              long weightGradFlops, long images, Double accuracy, Double trainLoss, Double trainAccuracy,
                              Integer testImages, Integer trainSample, Double cpuSeconds) {
        /** A stage that reports no training loss or training-set accuracy (assembly, weight selection, older runs). */
        public StageResult(String name, String method, double wallSeconds, long forwardFlops, long inputGradFlops, long weightGradFlops,
                           long images, Double accuracy, Double cpuSeconds) {
            this(name, method, wallSeconds, forwardFlops, inputGradFlops, weightGradFlops, images, accuracy, null, null, null, null, cpuSeconds);
        }

        @JsonIgnore
        public long totalFlops() {
            return forwardFlops + inputGradFlops + weightGradFlops;
        }
    }

    /**
     * @param accuracy      of the method's final model, NaN when it was never evaluated
     * @param trainLoss     the final stage's mean training loss over its last epoch, null when not measured
     * @param trainAccuracy the final model's top-1 on its fixed training sample, null when not measured
     */
    public record MethodResult(String method, double accuracy, long totalFlops, double wallSeconds, List<String> stages,
                               Double trainLoss, Double trainAccuracy, Double cpuSeconds) {}

    /** The CPU seconds of some stages together, or null when one of them was not measured. */
    public static Double cpuSeconds(List<StageResult> stages) {
        double sum = 0;
        for (StageResult s : stages) {
            if (s.cpuSeconds() == null) return null;
            sum += s.cpuSeconds();
        }
        return sum;
    }

    public Summary {
        stages = List.copyOf(stages);
        methods = List.copyOf(methods);
    }

    /**
     * Totals per method, in order of first appearance: FLOPs and wall time summed over its stages (the compute spent,
     * as the paper's GPU-hours; incubations run in parallel take less elapsed time: pass your own MethodResults to
     * report that), accuracy of its last evaluated stage. A stage shared by methods (one meta model for assembling
     * and imitation) belongs to one method here; build MethodResults by hand to count it in both.
     */
    public static Summary of(List<StageResult> stages) {
        Map<String, List<StageResult>> byMethod = new LinkedHashMap<>();
        for (StageResult s : stages) byMethod.computeIfAbsent(s.method(), k -> new ArrayList<>()).add(s);
        List<MethodResult> methods = new ArrayList<>();
        byMethod.forEach((method, list) -> {
            double accuracy = Double.NaN, wall = 0;
            Double trainLoss = null, trainAccuracy = null;
            long flops = 0;
            for (StageResult s : list) {
                flops += s.totalFlops();
                wall += s.wallSeconds();
                if (s.accuracy() != null) {
                    accuracy = s.accuracy();
                    trainLoss = s.trainLoss();
                    trainAccuracy = s.trainAccuracy();
                }
            }
            methods.add(new MethodResult(method, accuracy, flops, wall, list.stream().map(StageResult::name).toList(), trainLoss, trainAccuracy,
                    cpuSeconds(list)));
        });
        return new Summary(stages, methods);
    }

    /** Writes summary.json and summary.md into runDir, each atomically, so a reader never sees half a file. */
    public void write(Path runDir) throws IOException {
        Files.createDirectories(runDir);
        AtomicFile.write(runDir.resolve(JSON_FILE), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(this));
        AtomicFile.write(runDir.resolve(MARKDOWN_FILE), markdown().getBytes(StandardCharsets.UTF_8));
    }

    /** Reads a summary.json, or the one in a run directory; one that is not a summary is an IOException naming the file, in one line. */
    public static Summary read(Path path) throws IOException {
        Path file = Files.isDirectory(path) ? path.resolve(JSON_FILE) : path;
        return JsonFile.read(Json.MAPPER, file, Summary.class, "run summary");
    }

    static double orNaN(Double d) {
        return d == null ? Double.NaN : d;
    }

    /** The method table, as printed at the end of a run, and a line saying what the accuracies were measured on. */
    public String table() {
        StringBuilder sb = new StringBuilder("| method | test accuracy | train loss | train accuracy | training cost (FLOPs) | training time | CPU time | stages |\n")
                .append("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (MethodResult m : methods)
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", m.method(), percent(m.accuracy()), loss(orNaN(m.trainLoss())),
                    percent(orNaN(m.trainAccuracy())), flops(m.totalFlops()), clock(m.wallSeconds()), clock(orNaN(m.cpuSeconds())),
                    String.join(", ", m.stages())));
        String note = evaluationNote();
        if (note != null) sb.append('\n').append(note).append('\n');
        return sb.toString();
    }

    /**
     * What the accuracies were measured on: the whole test set (its size), the training sample, and the training loss's
     * definition; null for a summary whose stages do not say (runs written before these fields existed).
     */
    String evaluationNote() {
        Integer test = null, sample = null;
        for (StageResult s : stages) {
            if (s.testImages() != null) test = s.testImages();
            if (s.trainSample() != null) sample = s.trainSample();
        }
        if (test == null) return null;
        return String.format(Locale.ROOT, "Test accuracy: top-1 on the whole test set (%,d images). Train loss: the training objective's mean over "
                + "the last epoch. Train accuracy: top-1 on the first %,d training images, without augmentation.", test, sample == null ? 0 : sample);
    }

    /** The whole summary.md: methods, then every stage. */
    public String markdown() {
        StringBuilder sb = new StringBuilder("# Run summary\n\n## Methods\n\n").append(table())
                .append("\n## Stages\n\n| stage | method | test accuracy | train loss | train accuracy | forward | input grad | weight grad | total | images | time | CPU time |\n")
                .append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (StageResult s : stages)
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", s.name(), s.method(),
                    percent(orNaN(s.accuracy())), loss(orNaN(s.trainLoss())), percent(orNaN(s.trainAccuracy())), flops(s.forwardFlops()),
                    flops(s.inputGradFlops()), flops(s.weightGradFlops()), flops(s.totalFlops()), s.images(), clock(s.wallSeconds()),
                    clock(orNaN(s.cpuSeconds()))));
        return sb.toString();
    }

    /** Three significant digits in SI units: 1.5e15 → "1.50 PFLOP", 4.56e13 → "45.6 TFLOP". */
    public static String flops(double f) {
        String[] units = {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"};
        if (!Double.isFinite(f)) return "—";
        if (Math.abs(f) < 1000) return String.format(Locale.ROOT, "%.0f FLOP", f);
        int u = 0;
        double v = f;
        while (Math.abs(v) >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        // Round first: 999.6 TFLOP prints as 1.00 PFLOP, not 1000 TFLOP.
        if (Math.abs(Double.parseDouble(String.format(Locale.ROOT, "%.3g", v))) >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        int decimals = Math.abs(v) < 9.995 ? 2 : Math.abs(v) < 99.95 ? 1 : 0;
        return String.format(Locale.ROOT, "%." + decimals + "f %s", v, units[u]);
    }

    /** m:ss, or h:mm:ss from an hour on: 125 s → "2:05". */
    public static String clock(double seconds) {
        if (!Double.isFinite(seconds)) return "—";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    static String loss(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "—";
    }

    static String percent(double fraction) {
        return Double.isFinite(fraction) ? String.format(Locale.ROOT, "%.2f%%", 100 * fraction) : "—";
    }
}
