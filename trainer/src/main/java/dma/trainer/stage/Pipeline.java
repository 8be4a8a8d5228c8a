package dma.trainer.stage;

import dma.engine.io.AtomicFile;
import dma.engine.io.Faults;
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

    /** Runs module stages (the K modules of one method): in this process, as child processes or as cluster jobs. */
    @FunctionalInterface
    public interface ModuleLauncher {
        void run(List<StageId> modules) throws IOException;

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

    /**
     * Loads the plan's data: the test set whole, the training set reduced to the class-balanced train_fraction, both
     * padded to pad_to; their images must have the shape the model is built for (its FLOPs are counted on that shape).
     */
    public static Split data(Plan plan) {
        Split split = Datasets.load(plan.dataKind, plan.dataPath);
        Dataset train = split.train(), test = split.test();
        if (plan.trainFraction < 1) train = train.subset(Subsets.classBalanced(train, plan.trainFraction, plan.seed));
        if (plan.padTo > 0) {
            if (plan.padTo < train.height() || plan.padTo < train.width())
                throw new IllegalArgumentException("data.pad_to " + plan.padTo + " is smaller than the images of " + plan.dataPath
                        + " (" + train.height() + "×" + train.width() + ")");
            train = train.padTo(plan.padTo);
            test = test.padTo(plan.padTo);
        }
        int[] want = plan.target.inputShape(1);
        if (want[1] != train.channels() || want[2] != train.height() || want[3] != train.width())
            throw new IllegalArgumentException("the model takes " + want[1] + "×" + want[2] + "×" + want[3] + " images but "
                    + plan.dataPath + " holds " + train.channels() + "×" + train.height() + "×" + train.width()
                    + " (set model.in_chans / model.img_size, or data.pad_to)");
        return new Split(train, test);
    }

    /** Writes what every process of the run reads (config.json) and what the run resolved (resolved.json). */
    public static void writeRunFiles(Plan plan, Path runDir) throws IOException {
        Files.createDirectories(runDir);
        AtomicFile.writeString(runDir.resolve("config.json"), ConfigLoader.toJson(plan.config));
        AtomicFile.writeString(runDir.resolve("resolved.json"), ConfigLoader.toJson(resolved(plan)));
    }

    /**
     * Only the report (summary and plots) of a run whose stages have all finished, e.g. in the last job of a
     * cluster run; a stage that has not finished is an error naming it.
     */
    public static Summary reportOnly(Plan plan, Path runDir) throws IOException {
        Pipeline p = new Pipeline(plan, runDir, null, null);
        List<String> missing = new ArrayList<>();
        for (StageId id : StageId.pipeline(plan)) {
            Summary.StageResult r = Stages.finished(runDir, id);
            if (r == null) missing.add(id.name());
            else p.results.add(r);
        }
        if (!missing.isEmpty())
            throw new IllegalStateException("cannot report on " + runDir + ": not finished: " + String.join(", ", missing) + " (see dma status " + runDir + ")");
        return p.report();
    }

    public Summary run() throws IOException {
        try (RunLock lock = RunLock.pipeline(runDir)) {
            return runLocked();
        }
    }

    private Summary runLocked() throws IOException {
        writeRunFiles(plan, runDir);
        if (!plan.moduleMethods.isEmpty()) results.add(stages.run(StageId.META));
        for (ModuleMethod m : plan.moduleMethods) modules(m);
        for (ModuleMethod m : plan.moduleMethods) {
            results.add(stages.run(StageId.assemble(m)));
            results.add(stages.run(StageId.finetune(m)));
        }
        if (plan.e2e) for (StageId id : StageId.e2eStages(plan)) results.add(stages.run(id));
        return report();
    }

    /** The K modules of a method: the unfinished ones through the launcher, then every module's result. */
    private void modules(ModuleMethod method) throws IOException {
        List<StageId> all = new ArrayList<>(), todo = new ArrayList<>();
        for (int i = 0; i < plan.partition.modules(); i++) all.add(StageId.module(method, i));
        for (StageId id : all) if (Stages.finished(runDir, id) == null) todo.add(id);
        if (!todo.isEmpty() && method == ModuleMethod.DISTDATA && !launcher.inProcess()) stages.writeDistDataShards();
        if (!todo.isEmpty()) launcher.run(todo);
        for (StageId id : all) {
            Summary.StageResult r = Stages.finished(runDir, id);
            if (r == null) throw new IllegalStateException(id + " did not finish; see " + id.dir(runDir));
            results.add(r);
        }
    }

    /** The data fields of resolved.json and of stage keys; pad_to only when set, so that earlier keys stay the same. */
    static Map<String, Object> dataKey(Plan plan, String path) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("kind", plan.dataKind);
        d.put("path", path);
        d.put("train_fraction", plan.trainFraction);
        if (plan.padTo > 0) d.put("pad_to", plan.padTo);
        return d;
    }

    /** Every default filled in: what the run really used. */
    private static Map<String, Object> resolved(Plan plan) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", plan.seed);
        m.put("threads", plan.threads);
        m.put("data", dataKey(plan, plan.dataPath.toString()));
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
        if (plan.budget != null) m.put("budget", plan.budget);
        m.put("costs", costs(plan));
        return m;
    }

    /**
     * What the plan's methods cost, as the recipes' epochs give it: each kind of step's training FLOPs per image, and
     * each method's FLOPs per image of the training set (times the training images: the method's training FLOPs), with
     * its ratio to E2E's. The counts are what the run's summary will add up (to the rounding of epochs to whole steps).
     */
    private static Map<String, Object> costs(Plan plan) {
        Costs c = plan.costs();
        Map<String, Object> perImage = new LinkedHashMap<>();
        perImage.put("target", c.target());
        perImage.put(StageId.META.name(), c.meta());
        perImage.put(ModuleMethod.INCUBATE.command, c.incubate());
        perImage.put(ModuleMethod.IMITATE.command, c.imitate());
        Map<String, Double> methods = c.perTrainingImage(id -> plan.recipe(id).epochs(), plan.moduleMethods, true);
        double e2e = methods.get(StageId.E2E.summaryMethod());
        Map<String, Double> relative = new LinkedHashMap<>();
        methods.forEach((k, v) -> relative.put(k, v / e2e));
        if (!plan.e2e) methods.remove(StageId.E2E.summaryMethod());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step_flops_per_image", perImage);
        m.put("method_flops_per_training_image", methods);
        m.put("method_cost_relative_to_e2e", relative);
        return m;
    }

    /**
     * summary.json / summary.md, the plots, and the table. The meta model counts toward every method built
     * on it; its accuracy is its own, the method's is the fine-tuned target's.
     */
    private Summary report() throws IOException {
        Map<String, List<Summary.StageResult>> byMethod = new LinkedHashMap<>();
        String meta = StageId.META.name();
        for (ModuleMethod m : ModuleMethod.values()) {
            List<Summary.StageResult> list = new ArrayList<>();
            for (Summary.StageResult r : results) if (r.method().equals(m.summaryName) && !r.name().equals(meta)) list.add(r);
            if (list.isEmpty()) continue;
            results.stream().filter(r -> r.name().equals(meta)).findFirst().ifPresent(r -> list.add(0, r));
            byMethod.put(m.summaryName, list);
        }
        String e2e = StageId.E2E.summaryMethod();
        results.stream().filter(r -> r.method().equals(e2e)).forEach(r -> byMethod.computeIfAbsent(e2e, k -> new ArrayList<>()).add(r));
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
                    list.stream().map(Summary.StageResult::name).toList(), last.trainLoss(), last.trainAccuracy(), Summary.cpuSeconds(list)));
        });
        Summary summary = new Summary(results, methods);
        Faults.reach("summary");
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

    /** What the plotted accuracies were measured on: the test set, whole or its first eval_limit images. */
    private String curveNote() {
        Integer test = null;
        for (Summary.StageResult r : results) if (r.testImages() != null) test = r.testImages();
        if (test == null) return null;
        return plan.evalLimit < test
                ? String.format(java.util.Locale.ROOT, "test accuracy during training on the first %,d of the %,d test images; final accuracies in the summary on all", plan.evalLimit, test)
                : String.format(java.util.Locale.ROOT, "test accuracy on the whole test set (%,d images)", test);
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
        Plots.accuracyPerStage(metrics, plotDir.resolve("accuracy.png"), curveNote());
        // accuracy against cumulative cost: each method's stages laid end to end, points at the last stage's evaluations
        Map<String, List<double[]>> byFlops = new LinkedHashMap<>(), byTime = new LinkedHashMap<>();
        String e2eMethod = StageId.E2E.summaryMethod();
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
            String label = method.equals(e2eMethod) ? "E2E" : method;
            for (ModuleMethod m : ModuleMethod.values()) if (m.summaryName.equals(method)) label = m.label;
            byFlops.put(label, cost);
            byTime.put(label, time);
        });
        Plots.accuracyVsCost(byFlops, plotDir.resolve("accuracy_vs_flops.png"), curveNote());
        Plots.accuracyVsWallTime(byTime, plotDir.resolve("accuracy_vs_time.png"), curveNote());
    }
}
