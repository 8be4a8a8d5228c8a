package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Tensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.engine.ops.LossesOps;
import dma.models.Architecture;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import dma.models.convnext.ConvNeXtConfig;
import dma.models.select.WeightSelection;
import dma.models.vit.ViTConfig;
import dma.trainer.config.Plan;
import dma.trainer.data.DataShard;
import dma.trainer.data.Dataset;
import dma.trainer.data.Subsets;
import dma.trainer.report.Summary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The stages of Model Assembling and its baselines (DESIGN §6), each reading and writing files in the
 * run directory so that any of them can run alone (one process per incubation on a cluster):
 * {@code meta/model.safetensors}, {@code incubate-i/module.safetensors} (target names), {@code assemble/model.safetensors},
 * {@code finetune/model.safetensors}, {@code e2e/model.safetensors}, and {@code result.json} beside each.
 */
public final class Stages {
    /** The task loss: cross-entropy with the batch's soft targets and the plan's label smoothing. */
    private final StageRunner.Objective task;
    private final float smoothing;
    private final Plan plan;
    private final Path runDir;
    private final Backend be;
    private final Dataset train, test;
    private final StageRunner runner;
    private final boolean resume;
    /** Per-channel normalization of the full training set (kept for {@link #on}). */
    private final float[] mean, std;
    /** Size of the whole training set (which sets every stage's step count). */
    private final int trainSize;
    /** In a DistData task that read only its own part of the data: that part, else null. */
    private final DataShard shard;
    private final int shardIndex;

    public Stages(Plan plan, Path runDir, Backend be, Dataset train, Dataset test, boolean resume) {
        this(plan, runDir, be, train, test, resume, train.mean(), train.std(), train.size(), null, -1);
    }

    private Stages(Plan plan, Path runDir, Backend be, Dataset train, Dataset test, boolean resume, float[] mean, float[] std,
                   int trainSize, DataShard shard, int shardIndex) {
        this.plan = plan;
        this.runDir = runDir;
        this.be = be;
        this.train = train;
        this.test = test;
        this.resume = resume;
        this.mean = mean;
        this.std = std;
        this.trainSize = trainSize;
        this.shard = shard;
        this.shardIndex = shardIndex;
        this.runner = new StageRunner(plan, be, mean, std);
        this.smoothing = (float) plan.labelSmoothing;
        this.task = (model, x, y, rng) -> LossesOps.crossEntropy(model.forward(x, rng), y, smoothing);
    }

    /**
     * The stages of a DistData task that holds only module i's share of the training set and the evaluation set,
     * as {@link #writeDistDataShards} wrote them: it trains module i exactly as a process with all the data would.
     */
    public static Stages forDistDataShard(Plan plan, Path runDir, Backend be, int i, boolean resume) {
        DataShard mine = DataShard.read(distDataShard(runDir, i)), test = DataShard.read(testShard(runDir));
        return new Stages(plan, runDir, be, null, test.data(), resume, mine.header().mean(), mine.header().std(),
                mine.header().trainSize(), mine, i);
    }

    /**
     * These stages on another backend (the same plan, run directory and data): what a stage runs on {@code other},
     * e.g. the CPU backend with a module stage's thread count. {@code this} when {@code other} is this backend.
     */
    public Stages on(Backend other) {
        if (other == be) return this;
        return new Stages(plan, runDir, other, train, test, resume, mean, std, trainSize, shard, shardIndex);
    }

    /** Where module i's DistData share of the training set goes: {@code <run>/data/distdata-i.shard}. */
    public static Path distDataShard(Path runDir, int i) {
        return runDir.resolve("data").resolve("distdata-" + i + ".shard");
    }

    /** The evaluation set for tasks that read only their shard: {@code <run>/data/test.shard}. */
    public static Path testShard(Path runDir) {
        return runDir.resolve("data").resolve("test.shard");
    }

    /**
     * Writes each DistData module's share of the training set and the evaluation set into the run directory (once),
     * so that the K DistData jobs each read only their own share (DESIGN §8).
     */
    public void writeDistDataShards() {
        requireTrainingSet("writing the DistData shards");
        int k = plan.partition.modules();
        int[][] parts = null;
        for (int i = 0; i < k; i++) {
            if (Files.exists(distDataShard(runDir, i))) continue;
            if (parts == null) parts = Subsets.distData(train, k, plan.seed);
            DataShard.of("distdata " + i + " of " + k, train.subset(parts[i]), train).write(distDataShard(runDir, i));
        }
        if (!Files.exists(testShard(runDir))) DataShard.of("test", test, train).write(testShard(runDir));
    }

    private void requireTrainingSet(String what) {
        if (train == null)
            throw new IllegalStateException("this process read only DistData shard " + shardIndex + " (" + distDataShard(runDir, shardIndex)
                    + "), not the training set needed for " + what);
    }

    public Path output(String stage) {
        return output(runDir, stage);
    }

    /** A stage's output file: {@code <stage>/module.safetensors} for module stages, else {@code <stage>/model.safetensors}. */
    public static Path output(Path runDir, String stage) {
        return runDir.resolve(stage).resolve(stage.startsWith("incubate-") || stage.startsWith("imitate-") || stage.startsWith("distdata-")
                ? "module.safetensors" : "model.safetensors");
    }

    /** A finished stage's result, or null if it has not finished. */
    public Summary.StageResult finished(String stage) {
        return finished(runDir, stage);
    }

    /** A finished stage's result (its output and then its result.json were written), or null if it has not finished. */
    public static Summary.StageResult finished(Path runDir, String stage) {
        Path dir = runDir.resolve(stage);
        return Files.isRegularFile(dir.resolve(ResultFile.NAME)) && Files.isRegularFile(output(runDir, stage)) ? ResultFile.read(dir) : null;
    }

    private long seed(String stage) {
        return dma.engine.CounterRng.derive(plan.seed, stage.hashCode());
    }

    private static Architecture withDropPath(Architecture a, double p) {
        if (a instanceof ViTConfig v) return v.withDropPath(p);
        if (a instanceof ConvNeXtConfig c) return c.withDropPath(p);
        return a;
    }

    /** E2E: the target from scratch (or from {@code init}, e.g. a weight-selected checkpoint). */
    public Summary.StageResult e2e(String name, Path init) throws IOException {
        requireTrainingSet(name);
        Plan.Recipe r = plan.recipe("e2e");
        try (ImageClassifier model = withDropPath(plan.target, r.dropPath()).build(be, seed(name))) {
            if (init != null) loadInto(model, init);
            return train(name, model, model.parameters(), task, train, r, runner.stepsFor(train, r.epochs()), "e2e", this::saveModel);
        }
    }

    /** The meta model: one block per module, trained end to end without drop path. */
    public Summary.StageResult meta() throws IOException {
        requireTrainingSet("meta");
        Plan.Recipe r = plan.recipe("meta");
        try (ImageClassifier model = withDropPath(plan.partition.meta(), r.dropPath()).build(be, seed("meta"))) {
            return train("meta", model, model.parameters(), task, train, r, runner.stepsFor(train, r.epochs()), "assembling", this::saveModel);
        }
    }

    /**
     * Module i inside the frozen meta model. {@code kind}: "incubate" (task loss), "imitate" (L1 to the meta
     * block's features) or "distdata" (task loss on the i-th class-balanced share of the data, same steps).
     */
    public Summary.StageResult module(String kind, int i) throws IOException {
        Partition p = plan.partition;
        Plan.Recipe r = plan.recipe(kind.equals("imitate") ? "imitate" : kind.equals("distdata") ? "distdata" : "incubate");
        if (plan.config.stages() == null || !plan.config.stages().containsKey(r.stage())) r = plan.recipe("incubate");
        String name = kind + "-" + i;
        Path metaFile = requireOutput("meta");
        Map<String, Tensor> metaState = TensorFiles.load(metaFile, be);
        Plan.Recipe recipe = r;
        try (ImageClassifier meta = Checkpoint.load(metaFile, be, null).model();
             ImageClassifier hybrid = Assembly.hybrid(p, i, metaState, metaFile.toString(), be, seed(name),
                     a -> withDropPath(a, recipe.dropPath()))) {
            meta.train(false);
            meta.setTrainable(false);
            LinkedHashMap<String, Tensor> mine = new LinkedHashMap<>(hybrid.trainableParameters());
            StageRunner.Objective objective = kind.equals("imitate") ? imitation(p, i, meta) : incubation(i);
            Dataset data;
            if (kind.equals("distdata") && shard != null && shardIndex == i) data = shard.data();
            else {
                requireTrainingSet(name);
                data = kind.equals("distdata") ? train.subset(Subsets.distData(train, p.modules(), plan.seed)[i]) : train;
            }
            long steps = runner.stepsFor(trainSize, recipe.epochs()); // DistData: the same iterations on a smaller share
            return train(name, hybrid, mine, objective, data, recipe, steps, methodOf(kind), (stage, model, steps1) ->
                    TensorFiles.save(output(stage), Assembly.moduleState(p, i, model), Map.of("stage", stage, "module", Integer.toString(i))));
        } finally {
            metaState.values().forEach(Tensor::close);
        }
    }

    /**
     * The task loss of the hybrid for module i (incubation, DistData): the frozen meta prefix before module i runs
     * without the tape and is freed at once ({@link ImageClassifier#forwardFrozenPrefix}); the frozen suffix after it
     * is recorded, and its backward computes input gradients only.
     */
    private StageRunner.Objective incubation(int i) {
        return (hybrid, x, y, rng) -> LossesOps.crossEntropy(hybrid.forwardFrozenPrefix(x, i, rng), y, smoothing);
    }

    /**
     * Module Imitation's loss: mean |M_i(h) − M̂_i(h)| with h the frozen meta prefix's output. Module 0 also
     * owns the stem, so it reads the images; the last module owns the head, so it matches the meta logits.
     */
    private StageRunner.Objective imitation(Partition p, int i, ImageClassifier meta) {
        int k = p.modules(), d = p.depths()[i];
        return (hybrid, x, y, rng) -> {
            Tensor h, target;
            try (var off = dma.engine.GradMode.disabled()) {
                h = i == 0 ? x : meta.forwardStem(x);
                for (int j = 0; j < i; j++) h = meta.forwardBlock(j, h, null);
                target = meta.forwardBlock(i, i == 0 ? meta.forwardStem(x) : h, null);
                if (i == k - 1) target = meta.forwardHead(target);
            }
            Tensor out = i == 0 ? hybrid.forwardStem(h) : h;
            for (int j = 0; j < d; j++) out = hybrid.forwardBlock(i + j, out, rng);
            if (i == k - 1) out = hybrid.forwardHead(out);
            return LossesOps.l1(out, target);
        };
    }

    /** Assembles the K module checkpoints of a method ("incubate", "imitate", "distdata") into the target. */
    public Summary.StageResult assemble(String kind) throws IOException {
        String name = kind.equals("incubate") ? "assemble" : "assemble-" + kind;
        long t0 = System.nanoTime();
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < plan.partition.modules(); i++) files.add(requireOutput(kind + "-" + i));
        try (ImageClassifier model = plan.target.build(be, 0)) {
            Assembly.assembleFiles(plan.partition, files, model, be);
            double acc = runner.evaluate(model, test, Integer.MAX_VALUE);
            Files.createDirectories(output(name).getParent());
            Checkpoint.save(output(name), model, name, 0, null);
            Summary.StageResult res = new Summary.StageResult(name, methodOf(kind), (System.nanoTime() - t0) / 1e9, 0, 0, 0, 0, acc);
            ResultFile.write(runDir.resolve(name), res);
            return res;
        }
    }

    /** Fine-tunes an assembled model end to end (no warm-up, clipping at 1.0, drop path). */
    public Summary.StageResult finetune(String kind) throws IOException {
        String from = kind.equals("incubate") ? "assemble" : "assemble-" + kind;
        String name = kind.equals("incubate") ? "finetune" : "finetune-" + kind;
        Plan.Recipe r = plan.recipe("finetune");
        requireTrainingSet(name);
        try (ImageClassifier model = withDropPath(plan.target, r.dropPath()).build(be, seed(name))) {
            loadInto(model, requireOutput(from));
            return train(name, model, model.parameters(), task, train, r, runner.stepsFor(train, r.epochs()), methodOf(kind), this::saveModel);
        }
    }

    /** Weight selection (DESIGN §6.6): the target initialized from the plan's teacher checkpoint. */
    public Summary.StageResult selectWeights(Path teacherFile) throws IOException {
        long t0 = System.nanoTime();
        try (ImageClassifier student = plan.target.build(be, seed("select-weights"));
             ImageClassifier teacher = Checkpoint.load(teacherFile, be, null).model()) {
            LinkedHashMap<String, Tensor> selected = WeightSelection.select(teacher.stateDict(), student.stateDict());
            try {
                student.load(selected, teacherFile + " (selected)", true);
            } finally {
                selected.values().forEach(Tensor::close);
            }
            Files.createDirectories(output("select-weights").getParent());
            Checkpoint.save(output("select-weights"), student, "select-weights", 0, Map.of("teacher", teacherFile.toString()));
            Summary.StageResult res = new Summary.StageResult("select-weights", "weight-selection", (System.nanoTime() - t0) / 1e9,
                    0, 0, 0, 0, runner.evaluate(student, test, Integer.MAX_VALUE));
            ResultFile.write(runDir.resolve("select-weights"), res);
            return res;
        }
    }

    /** How a stage writes its output once trained. */
    @FunctionalInterface
    private interface Output {
        void save(String stage, ImageClassifier model, long steps);
    }

    private void saveModel(String stage, ImageClassifier model, long steps) {
        Checkpoint.save(output(stage), model, stage, steps, null);
    }

    /** Trains, writes the output, then result.json (the mark of a finished stage), then drops the training checkpoint. */
    private Summary.StageResult train(String name, ImageClassifier model, Map<String, Tensor> trainable, StageRunner.Objective objective,
                              Dataset data, Plan.Recipe recipe, long steps, String method, Output out) throws IOException {
        StageRunner.Result r = runner.run(new StageRunner.Spec(name, runDir.resolve(name), model, trainable, objective, data, test,
                recipe, steps, seed(name)), resume);
        out.save(name, model, r.steps());
        Summary.StageResult res = new Summary.StageResult(name, method, r.wallSeconds(), r.flops().forward(), r.flops().inputGrad(),
                r.flops().weightGrad(), r.images(), r.accuracy());
        ResultFile.write(runDir.resolve(name), res);
        Files.deleteIfExists(runDir.resolve(name).resolve("state.safetensors"));
        return res;
    }

    private static String methodOf(String kind) {
        return switch (kind) {
            case "imitate" -> "imitation";
            case "distdata" -> "distdata";
            default -> "assembling";
        };
    }

    private Path requireOutput(String stage) {
        Path f = output(stage);
        if (!Files.exists(f)) throw new IllegalStateException("stage '" + stage + "' has not finished: " + f + " is missing; run it first");
        return f;
    }

    private void loadInto(ImageClassifier model, Path file) {
        Map<String, Tensor> state = TensorFiles.load(file, be);
        try {
            model.load(state, file.toString(), true);
        } finally {
            state.values().forEach(Tensor::close);
        }
    }
}
