package dma.trainer.stage;

import dma.engine.Backend;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.data.Dataset;
import dma.trainer.data.Datasets;
import dma.trainer.data.Split;
import dma.trainer.data.Subsets;
import dma.trainer.report.MetricsLog;
import dma.trainer.report.Plots;
import dma.trainer.report.Summary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model Assembling end to end: meta → incubate ×K → assemble → finetune, then the chosen baselines on
 * the same data, skipping every stage whose finished output exists (so a rerun, or {@code --resume}
 * after a kill, continues where it stopped), and finally the summary, the plots and the table.
 */
public final class Pipeline {
    private final Plan plan;
    private final Path runDir;
    private final Stages stages;
    private final ModuleLauncher launcher;
    private final List<Summary.StageResult> results = new ArrayList<>();

    /** Runs the K module stages of one method (incubate, imitate, distdata): in this process or as child processes. */
    @FunctionalInterface
    public interface ModuleLauncher {
        void run(String kind, List<Integer> modules) throws IOException;

        /** Whether the modules run in this process (then DistData needs no shard files: it has the data in memory). */
        default boolean inProcess() {
            return false;
        }
    }

    public Pipeline(Plan plan, Path runDir, Stages stages, ModuleLauncher launcher) {
        this.plan = plan;
        this.runDir = runDir;
        this.stages = stages;
        this.launcher = launcher;
    }

    /** Loads the plan's data: the test set whole, the training set reduced to the class-balanced train_fraction. */
    public static Split data(Plan plan) {
        Split split = Datasets.load(plan.dataKind, plan.dataPath);
        if (plan.trainFraction >= 1) return split;
        Dataset train = split.train().subset(Subsets.classBalanced(split.train(), plan.trainFraction, plan.seed));
        return new Split(train, split.test());
    }

    /**
     * Every stage the plan runs, in pipeline order: meta, the K modules of each method, then each method's
     * assemble and finetune, then e2e.
     */
    public static List<String> stageNames(Plan plan) {
        List<String> names = new ArrayList<>(List.of("meta"));
        for (String kind : methods(plan))
            for (int i = 0; i < plan.partition.modules(); i++) names.add(kind + "-" + i);
        for (String kind : methods(plan)) {
            names.add(assembleStage(kind));
            names.add(finetuneStage(kind));
        }
        if (plan.baselines.contains("e2e")) names.add("e2e");
        return names;
    }

    /** The module methods the plan runs: incubate, then imitate and distdata if they are baselines. */
    public static List<String> methods(Plan plan) {
        List<String> kinds = new ArrayList<>(List.of("incubate"));
        for (String b : List.of("imitate", "distdata")) if (plan.baselines.contains(b)) kinds.add(b);
        return kinds;
    }

    public static String assembleStage(String kind) {
        return kind.equals("incubate") ? "assemble" : "assemble-" + kind;
    }

    public static String finetuneStage(String kind) {
        return kind.equals("incubate") ? "finetune" : "finetune-" + kind;
    }

    /** Writes what every process of the run reads (config.json) and what the run resolved (resolved.json). */
    public static void writeRunFiles(Plan plan, Path runDir) throws IOException {
        Files.createDirectories(runDir);
        writeAtomically(runDir.resolve("config.json"), ConfigLoader.toJson(plan.config));
        writeAtomically(runDir.resolve("resolved.json"), ConfigLoader.toJson(resolved(plan)));
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Only the report (summary and plots) of a run whose stages have all finished, e.g. in the last job of a
     * cluster run; a stage that has not finished is an error naming it.
     */
    public static Summary reportOnly(Plan plan, Path runDir) throws IOException {
        Pipeline p = new Pipeline(plan, runDir, null, null);
        List<String> missing = new ArrayList<>();
        for (String name : stageNames(plan)) {
            Summary.StageResult r = Stages.finished(runDir, name);
            if (r == null) missing.add(name);
            else p.results.add(r);
        }
        if (!missing.isEmpty())
            throw new IllegalStateException("cannot report on " + runDir + ": not finished: " + String.join(", ", missing) + " (see dma status " + runDir + ")");
        return p.report();
    }

    public Summary run() throws IOException {
        writeRunFiles(plan, runDir);
        stage("meta", stages::meta);
        methodModules("incubate");
        if (plan.baselines.contains("imitate")) methodModules("imitate");
        if (plan.baselines.contains("distdata")) methodModules("distdata");
        for (String kind : List.of("incubate", "imitate", "distdata")) {
            if (!kind.equals("incubate") && !plan.baselines.contains(kind)) continue;
            String suffix = kind.equals("incubate") ? "" : "-" + kind;
            stage("assemble" + suffix, () -> stages.assemble(kind));
            stage("finetune" + suffix, () -> stages.finetune(kind));
        }
        if (plan.baselines.contains("e2e")) stage("e2e", () -> stages.e2e("e2e", null));
        return report();
    }

    private void methodModules(String kind) throws IOException {
        List<Integer> todo = new ArrayList<>();
        for (int i = 0; i < plan.partition.modules(); i++) if (stages.finished(kind + "-" + i) == null) todo.add(i);
        if (!todo.isEmpty() && kind.equals("distdata") && !launcher.inProcess()) stages.writeDistDataShards();
        if (!todo.isEmpty()) launcher.run(kind, todo);
        for (int i = 0; i < plan.partition.modules(); i++) {
            Summary.StageResult r = stages.finished(kind + "-" + i);
            if (r == null) throw new IllegalStateException(kind + "-" + i + " did not finish; see " + runDir.resolve(kind + "-" + i));
            results.add(r);
        }
    }

    /** Every default filled in: what the run really used. */
    private static Map<String, Object> resolved(Plan plan) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", plan.seed);
        m.put("threads", plan.threads);
        m.put("data", Map.of("kind", plan.dataKind, "path", plan.dataPath.toString(), "train_fraction", plan.trainFraction));
        m.put("model", plan.target.toMap());
        m.put("divided_depths", plan.partition.depths());
        m.put("batch_size", plan.batchSize);
        m.put("optimizer", plan.optimizer);
        m.put("label_smoothing", plan.labelSmoothing);
        m.put("precision", plan.precision);
        Map<String, Object> recipes = new LinkedHashMap<>();
        for (String s : dma.trainer.config.RunConfig.STAGES) recipes.put(s, plan.recipe(s));
        m.put("stages", recipes);
        m.put("baselines", plan.baselines);
        m.put("launcher", plan.launcher);
        if (plan.moduleThreads != null) m.put("module_threads", plan.moduleThreads);
        return m;
    }

    @FunctionalInterface
    private interface StageBody {
        Summary.StageResult run() throws IOException;
    }

    private void stage(String name, StageBody body) throws IOException {
        Summary.StageResult done = stages.finished(name);
        if (done != null) System.err.println(name + ": finished earlier, skipped (" + runDir.resolve(name) + ")");
        results.add(done != null ? done : Attempt.run(runDir, name, body::run));
    }

    /**
     * summary.json / summary.md, the plots, and the table. The meta model counts toward every method built
     * on it; its accuracy is its own, the method's is the fine-tuned target's.
     */
    private Summary report() throws IOException {
        Map<String, List<Summary.StageResult>> byMethod = new LinkedHashMap<>();
        Summary.StageResult meta = results.stream().filter(r -> r.name().equals("meta")).findFirst().orElseThrow();
        for (String kind : List.of("incubate", "imitate", "distdata")) {
            String method = kind.equals("incubate") ? "assembling" : kind.equals("imitate") ? "imitation" : "distdata";
            List<Summary.StageResult> list = new ArrayList<>();
            for (Summary.StageResult r : results) if (r.method().equals(method) && !r.name().equals("meta")) list.add(r);
            if (list.isEmpty()) continue;
            list.add(0, meta);
            byMethod.put(method, list);
        }
        results.stream().filter(r -> r.method().equals("e2e")).forEach(r -> byMethod.computeIfAbsent("e2e", k -> new ArrayList<>()).add(r));
        List<Summary.MethodResult> methods = new ArrayList<>();
        byMethod.forEach((method, list) -> {
            long flops = 0;
            double wall = 0;
            for (Summary.StageResult r : list) {
                flops += r.totalFlops();
                wall += r.wallSeconds();
            }
            Summary.StageResult last = list.get(list.size() - 1);
            methods.add(new Summary.MethodResult(method, last.accuracy() == null ? Double.NaN : last.accuracy(), flops, wall,
                    list.stream().map(Summary.StageResult::name).toList()));
        });
        Summary summary = new Summary(results, methods);
        summary.write(runDir);
        plots(byMethod);
        return summary;
    }

    /**
     * Why this process cannot draw the plots, or null when it can. The GPU bundle leaves the charting library and
     * java.desktop out of its runtime (the GPU machine draws nothing else); the check stays outside {@link Plots},
     * whose verification alone would load the missing classes.
     */
    public static String plotsUnavailable() {
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) return "this Java runtime has no java.desktop module";
        try {
            Class.forName("org.jfree.chart.JFreeChart", false, Pipeline.class.getClassLoader());
            return null;
        } catch (ClassNotFoundException e) {
            return "the charting library (JFreeChart) is not on the class path";
        }
    }

    private void plots(Map<String, List<Summary.StageResult>> byMethod) throws IOException {
        String unavailable = plotsUnavailable();
        if (unavailable != null) {
            System.err.printf("pipeline: plots not drawn: %s (as in the GPU bundle); to draw them, on a machine with the "
                    + "full build: dma pipeline --report-only --run-dir %s --config %s%n", unavailable, runDir, runDir.resolve("config.json"));
            return;
        }
        List<MetricsLog.Metric> metrics = new ArrayList<>();
        for (Summary.StageResult r : results) {
            Path f = runDir.resolve(r.name()).resolve(MetricsLog.FILE);
            if (Files.exists(f)) metrics.addAll(MetricsLog.read(f));
        }
        Path plotDir = Files.createDirectories(runDir.resolve("plots"));
        Plots.lossPerStage(metrics, plotDir.resolve("loss.png"));
        Plots.accuracyPerStage(metrics, plotDir.resolve("accuracy.png"));
        // accuracy against cumulative cost: each method's stages laid end to end, points at the last stage's evaluations
        Map<String, List<double[]>> byFlops = new LinkedHashMap<>(), byTime = new LinkedHashMap<>();
        byMethod.forEach((method, list) -> {
            double flopsBefore = 0, wallBefore = 0;
            for (int i = 0; i < list.size() - 1; i++) {
                flopsBefore += list.get(i).totalFlops();
                wallBefore += list.get(i).wallSeconds();
            }
            String last = list.get(list.size() - 1).name();
            List<double[]> cost = new ArrayList<>(), time = new ArrayList<>();
            for (MetricsLog.Metric m : metrics)
                if (m.stage().equals(last) && m.evalAccuracy() != null) {
                    cost.add(new double[]{flopsBefore + m.flops(), 100 * m.evalAccuracy()});
                    time.add(new double[]{(wallBefore + m.wallSeconds()) / 60, 100 * m.evalAccuracy()});
                }
            String label = switch (method) {
                case "assembling" -> "Model Assembling";
                case "e2e" -> "E2E";
                case "imitation" -> "Module Imitation";
                case "distdata" -> "DistData";
                default -> method;
            };
            byFlops.put(label, cost);
            byTime.put(label, time);
        });
        Plots.accuracyVsCost(byFlops, plotDir.resolve("accuracy_vs_flops.png"));
        Plots.accuracyVsWallTime(byTime, plotDir.resolve("accuracy_vs_time.png"));
    }
}
