package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.CounterRng;
import dma.engine.Flops;
import dma.engine.Tensor;
import dma.engine.io.Faults;
import dma.engine.io.TensorFiles;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import dma.models.select.WeightSelection;
import dma.trainer.config.Plan;
import dma.trainer.data.DataShard;
import dma.trainer.data.Dataset;
import dma.trainer.data.Split;
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
 * The stages of Model Assembling and its baselines (DESIGN §6), each reading and writing files in the run directory
 * so that any of them can run alone (one process per incubation on a cluster). {@link #run} is the one way into a
 * stage, for every launcher: it skips a finished stage, records the attempt for {@code dma status}, reads the data the
 * stage needs (once per process, and only when a stage has to run), and writes the output, then {@code result.json}.
 */
public final class Stages {
    private final Plan plan;
    private final Path runDir;
    private final Backend be;
    private final boolean resume;
    private final RunData data;
    /** The timeline asked for (--trace), or null. */
    private StageTrace trace;

    /** The stages of a run whose data is read from the plan when a stage first needs it. */
    public Stages(Plan plan, Path runDir, Backend be, boolean resume) {
        this(plan, runDir, be, resume, new RunData(plan, runDir));
    }

    private Stages(Plan plan, Path runDir, Backend be, boolean resume, RunData data) {
        this.plan = plan;
        this.runDir = runDir;
        this.be = be;
        this.resume = resume;
        this.data = data;
    }

    /** The same run on another backend (e.g. the module stages' thread count), sharing the data already read. */
    public Stages on(Backend other) {
        if (other == be) return this;
        Stages s = new Stages(plan, runDir, other, resume, data);
        s.trace(trace);
        return s;
    }

    /** Traces a few steps of each stage that trains from now on, one file per stage ({@link StageTrace}); null: none. */
    public void trace(StageTrace t) {
        trace = t;
    }

    /** {@link #run(StageId, Path)} as the pipeline runs it: select-weights from the config's teacher, e2e-init from the run's selected weights. */
    public Summary.StageResult run(StageId id) {
        return run(id, id.pipelineStart(plan, runDir));
    }

    /**
     * Runs a stage unless it has finished (its output and result.json exist; then it is skipped without reading the
     * data, so a resubmitted job redoes only what is missing), recording the attempt.
     *
     * @param from the start checkpoint of {@code e2e-init}, the teacher of {@code select-weights}; null for the others
     */
    public Summary.StageResult run(StageId id, Path from) {
        if ((id.kind() == StageId.Kind.E2E_INIT || id.kind() == StageId.Kind.SELECT_WEIGHTS) != (from != null))
            throw new IllegalArgumentException(id + (from == null ? " needs a checkpoint to start from" : " takes no checkpoint"));
        Summary.StageResult done = finished(runDir, id);
        if (done != null) {
            System.err.println(id + ": finished earlier, skipped (" + id.dir(runDir) + ")");
            return done;
        }
        RunLock lock;
        try {
            lock = RunLock.stage(runDir, id);
        } catch (java.io.UncheckedIOException e) {
            // the stage's directory cannot be written: an attempt that fails at once, recorded where status finds it
            return Attempt.run(runDir, id, () -> {
                throw e.getCause();
            });
        }
        try (lock) {
            done = finished(runDir, id); // finished by the process that held the lock just now
            if (done != null) return done;
            if (from == null && reused(id)) return finished(runDir, id);
            return attempt(id, from);
        }
    }

    /** Whether a finished stage with {@code id}'s key was found under the plan's reuse_stages_from and copied here. */
    private boolean reused(StageId id) {
        if (plan.reuseStagesFrom.isEmpty()) return false;
        try {
            Path donor = StageKey.reuse(plan.reuseStagesFrom, runDir, id, StageKey.of(plan, runDir, id, be));
            if (donor != null) System.err.println(id + ": reused " + donor + " (the same " + StageKey.FILE + ")");
            return donor != null;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(id + ": cannot reuse a finished stage: " + e.getMessage(), e);
        }
    }

    /** The marks of a finished stage, after its output: its key, then result.json (what {@link #finished} looks for). */
    private void finish(StageId id, Summary.StageResult result) throws IOException {
        StageKey.write(id.dir(runDir), StageKey.of(plan, runDir, id, be));
        ResultFile.write(id.dir(runDir), result);
    }

    /** The task loss with the plan's label smoothing. */
    private StageRunner.Objective task() {
        return Objectives.task((float) plan.labelSmoothing);
    }

    private Summary.StageResult attempt(StageId id, Path from) {
        Faults.reach("start/" + id);
        return Attempt.run(runDir, id, () -> switch (id.kind()) {
            case META -> meta();
            case MODULE -> module(id);
            case ASSEMBLE -> assemble(id);
            case FINETUNE -> finetune(id);
            case E2E -> e2e(id, null);
            case E2E_INIT -> e2e(id, from);
            case SELECT_WEIGHTS -> selectWeights(from);
            case REPORT -> throw new IllegalArgumentException("the report is not a training stage: run dma pipeline --report-only");
        });
    }

    /** A finished stage's result (its output and then its result.json were written), or null if it has not finished. */
    public static Summary.StageResult finished(Path runDir, StageId id) {
        Path dir = id.dir(runDir);
        return Files.isRegularFile(dir.resolve(ResultFile.NAME)) && Files.isRegularFile(id.output(runDir)) ? ResultFile.read(dir) : null;
    }

    /**
     * Writes each DistData module's share of the training set and the evaluation set into the run directory (once),
     * so that the K DistData jobs each read only their own share (DESIGN §8).
     */
    public void writeDistDataShards() {
        data.writeDistDataShards();
    }

    /** Where module i's DistData share of the training set goes: {@code <run>/data/distdata-i.shard}. */
    public static Path distDataShard(Path runDir, int i) {
        return runDir.resolve("data").resolve(StageId.module(ModuleMethod.DISTDATA, i).name() + ".shard");
    }

    /** The evaluation set for tasks that read only their shard: {@code <run>/data/test.shard}. */
    public static Path testShard(Path runDir) {
        return runDir.resolve("data").resolve("test.shard");
    }

    private long seed(StageId id) {
        return CounterRng.derive(plan.seed, id.name().hashCode());
    }

    /** E2E: the target from scratch (or from {@code init}, e.g. a weight-selected checkpoint). */
    private Summary.StageResult e2e(StageId id, Path init) throws IOException {
        Inputs in = data.all();
        Plan.Recipe r = plan.recipe(id);
        try (ImageClassifier model = plan.target.withDropPath(r.dropPath()).build(be, seed(id))) {
            if (init != null) loadInto(model, init);
            return train(id, model, model.parameters(), task(), in, r, steps(in, r.epochs()), this::saveModel);
        }
    }

    /** The meta model: one block per module (or {@code meta_depth} blocks), trained end to end without drop path. */
    private Summary.StageResult meta() throws IOException {
        StageId id = StageId.META;
        Inputs in = data.all();
        Plan.Recipe r = plan.recipe(id);
        try (ImageClassifier model = plan.partition.meta().withDropPath(r.dropPath()).build(be, seed(id))) {
            if (plan.initFromTeacher) selectInto(model, Path.of(plan.teacher));
            return train(id, model, model.parameters(), task(), in, r, steps(in, r.epochs()), this::saveModel);
        }
    }

    /**
     * Module i of a method inside the frozen meta model: incubate (task loss), imitate (L1 to the meta block's
     * features) or distdata (task loss on the i-th class-balanced share of the data, same steps as the others). The meta
     * checkpoint is read once; the meta model itself is built only for imitation, whose loss runs it.
     */
    private Summary.StageResult module(StageId id) throws IOException {
        Partition p = plan.partition;
        int i = id.module();
        Plan.Recipe r = plan.recipe(id);
        Path metaFile = requireOutput(StageId.META); // before the data is read: a missing input fails at once
        Inputs in = id.method() == ModuleMethod.DISTDATA ? data.distData(id) : data.all();
        boolean imitate = id.method() == ModuleMethod.IMITATE;
        ImageClassifier meta = imitate ? Checkpoint.load(metaFile, be, null).model() : null;
        Map<String, Tensor> metaState = imitate ? meta.stateDict() : TensorFiles.load(metaFile, be);
        try (ImageClassifier hybrid = Assembly.hybrid(p, i, metaState, metaFile.toString(), be, seed(id), a -> a.withDropPath(r.dropPath()))) {
            if (plan.initFromTeacher)
                try (ImageClassifier target = plan.target.build(be, seed(id))) {
                    selectInto(target, Path.of(plan.teacher));
                    Assembly.initModule(p, i, hybrid, target.stateDict(), plan.teacher + " (selected)");
                }
            LinkedHashMap<String, Tensor> mine = new LinkedHashMap<>(hybrid.trainableParameters());
            StageRunner.Objective objective = imitate ? Objectives.imitation(p, i, meta) : Objectives.incubation(p, i, (float) plan.labelSmoothing);
            Map<String, String> metadata = new LinkedHashMap<>(); // ordered: the same module gives the same bytes
            metadata.put("stage", id.name());
            metadata.put("module", Integer.toString(i));
            return train(id, hybrid, mine, objective, in, r, steps(in, r.epochs()), (stage, model, steps) ->
                    TensorFiles.save(stage.output(runDir), Assembly.moduleState(p, i, model), metadata));
        } finally {
            if (meta != null) meta.close();
            else metaState.values().forEach(Tensor::close);
        }
    }

    /**
     * Training batches on which an assembled model's BatchNorm statistics are re-estimated: 1 280 images at batch 64,
     * forward only (about 7% of the cost of one training epoch on the 6 000-image subset).
     */
    static final int BATCH_NORM_BATCHES = 20;

    /**
     * Assembles the K module checkpoints of a method into the target, re-estimates its BatchNorm statistics if it has
     * any (each module's were gathered beside the meta model's blocks, not beside the other modules), and evaluates it.
     */
    private Summary.StageResult assemble(StageId id) throws IOException {
        long t0 = System.nanoTime();
        double cpu0 = StageRunner.processCpuSeconds();
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < plan.partition.modules(); i++) files.add(requireOutput(StageId.module(id.method(), i)));
        Inputs in = data.all();
        try (ImageClassifier model = plan.target.build(be, 0)) {
            Assembly.assembleFiles(plan.partition, files, model, be);
            Faults.reach("assembled/" + id);
            StageRunner runner = runner(in);
            Flops.Count flops0 = Flops.now();
            long images = runner.recalibrateBatchNorm(model, in.train(), BATCH_NORM_BATCHES, seed(id));
            Flops.Count flops = Flops.now().minus(flops0);
            double acc = runner.evaluate(model, in.test(), Integer.MAX_VALUE);
            if (images > 0)
                System.err.printf("%s: BatchNorm statistics re-estimated on %d training images (%s, counted in the method's cost)%n",
                        id.name(), images, Summary.flops(flops.total()));
            Files.createDirectories(id.dir(runDir));
            Checkpoint.save(id.output(runDir), model, id.name(), 0, null);
            Faults.reach("end/" + id);
            Summary.StageResult res = new Summary.StageResult(id.name(), id.summaryMethod(), (System.nanoTime() - t0) / 1e9,
                    flops.forward(), flops.inputGrad(), flops.weightGrad(), images, acc, StageRunner.cpuSince(cpu0));
            finish(id, res);
            return res;
        }
    }

    /** Fine-tunes a method's assembled model end to end (no warm-up, clipping at 1.0, drop path). */
    private Summary.StageResult finetune(StageId id) throws IOException {
        Plan.Recipe r = plan.recipe(id);
        Path assembled = requireOutput(StageId.assemble(id.method()));
        Inputs in = data.all();
        try (ImageClassifier model = plan.target.withDropPath(r.dropPath()).build(be, seed(id))) {
            loadInto(model, assembled);
            return train(id, model, model.parameters(), task(), in, r, steps(in, r.epochs()), this::saveModel);
        }
    }

    /** Weight selection (DESIGN §6.6): the target initialized from a teacher checkpoint. */
    private Summary.StageResult selectWeights(Path teacherFile) throws IOException {
        StageId id = StageId.SELECT_WEIGHTS;
        long t0 = System.nanoTime();
        double cpu0 = StageRunner.processCpuSeconds();
        Inputs in = data.all();
        try (ImageClassifier student = plan.target.build(be, seed(id))) {
            selectInto(student, teacherFile);
            Files.createDirectories(id.dir(runDir));
            Checkpoint.save(id.output(runDir), student, id.name(), 0, Map.of("teacher", teacherFile.toString()));
            Summary.StageResult res = new Summary.StageResult(id.name(), id.summaryMethod(), (System.nanoTime() - t0) / 1e9,
                    0, 0, 0, 0, runner(in).evaluate(student, in.test(), Integer.MAX_VALUE), StageRunner.cpuSince(cpu0));
            ResultFile.write(id.dir(runDir), res);
            return res;
        }
    }

    /** Loads into {@code model} the weights selected for it from a trained teacher checkpoint (DESIGN §6.6). */
    private void selectInto(ImageClassifier model, Path teacherFile) {
        try (ImageClassifier teacher = Checkpoint.load(teacherFile, be, null).model()) {
            LinkedHashMap<String, Tensor> selected = WeightSelection.select(teacher.stateDict(), model.stateDict());
            try {
                model.load(selected, teacherFile + " (selected)", true);
            } finally {
                selected.values().forEach(Tensor::close);
            }
        }
    }

    /** How a stage writes its output once trained. */
    @FunctionalInterface
    private interface Output {
        void save(StageId stage, ImageClassifier model, long steps);
    }

    private void saveModel(StageId stage, ImageClassifier model, long steps) {
        Checkpoint.save(stage.output(runDir), model, stage.name(), steps, null);
    }

    /** Trains, writes the output, then result.json (the mark of a finished stage), then drops the training checkpoint. */
    private Summary.StageResult train(StageId id, ImageClassifier model, Map<String, Tensor> trainable, StageRunner.Objective objective,
                                      Inputs in, Plan.Recipe recipe, long steps, Output out) throws IOException {
        Path dir = id.dir(runDir);
        StageRunner.Result r = runner(in).traced(trace).run(new StageRunner.Spec(id.name(), dir, model, trainable, objective, in.train(), in.test(),
                recipe, steps, seed(id)), resume);
        out.save(id, model, r.steps());
        Faults.reach("end/" + id);
        Summary.StageResult res = new Summary.StageResult(id.name(), id.summaryMethod(), r.wallSeconds(), r.flops().forward(),
                r.flops().inputGrad(), r.flops().weightGrad(), r.images(), r.accuracy(), r.trainLoss(), r.trainAccuracy(), r.testImages(),
                r.trainSample(), r.cpuSeconds());
        finish(id, res);
        Files.deleteIfExists(dir.resolve(StageRunner.STATE_FILE));
        return res;
    }

    private Path requireOutput(StageId stage) {
        Path f = stage.output(runDir);
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

    /**
     * What a stage trains and evaluates on: its training images (for DistData, its share), the whole training set's
     * size (which sets every stage's step count) and the runner normalizing by the whole set's mean and std.
     */
    private record Inputs(Dataset train, Dataset test, int trainSize, float[] mean, float[] std) {}

    private StageRunner runner(Inputs in) {
        return new StageRunner(plan, be, in.mean(), in.std());
    }

    private long steps(Inputs in, double epochs) {
        return runner(in).stepsFor(in.trainSize(), epochs);
    }

    /**
     * The run's data, read at most once per process and only when a stage has to run: the training set (reduced to
     * the plan's train_fraction) and the test set; or, for a DistData task in a process that has not read them, only
     * its shard and the evaluation set, when the run directory holds them ({@link #writeDistDataShards}).
     */
    private static final class RunData {
        private final Plan plan;
        private final Path runDir;
        private Split split;

        RunData(Plan plan, Path runDir) {
            this.plan = plan;
            this.runDir = runDir;
        }

        private Inputs all;

        synchronized Split split() {
            if (split == null) split = Pipeline.data(plan);
            return split;
        }

        /** The whole training set's inputs, its normalization computed once (a pass over every image) for every stage. */
        synchronized Inputs all() {
            if (all == null) {
                Split s = split();
                all = new Inputs(s.train(), s.test(), s.train().size(), s.train().mean(), s.train().std());
            }
            return all;
        }

        /** Module i's DistData share: from the data in memory, else from its shard file, else from the data set read whole. */
        Inputs distData(StageId id) {
            int i = id.module();
            Path mine = distDataShard(runDir, i), test = testShard(runDir);
            boolean inMemory;
            synchronized (this) {
                inMemory = split != null;
            }
            if (!inMemory && Files.isRegularFile(mine) && Files.isRegularFile(test)) {
                System.err.printf("%s: reading only its shard %s%n", id, mine);
                DataShard shard = DataShard.read(mine);
                DataShard.Header h = shard.header();
                return new Inputs(shard.data(), DataShard.read(test).data(), h.trainSize(), h.mean(), h.std());
            }
            Inputs whole = all();
            Dataset share = whole.train().subset(Subsets.distData(whole.train(), plan.partition.modules(), plan.seed)[i]);
            return new Inputs(share, whole.test(), whole.trainSize(), whole.mean(), whole.std());
        }

        void writeDistDataShards() {
            int k = plan.partition.modules();
            int[][] parts = null;
            Split s = null;
            for (int i = 0; i < k; i++) {
                if (Files.exists(distDataShard(runDir, i))) continue;
                if (s == null) s = split();
                if (parts == null) parts = Subsets.distData(s.train(), k, plan.seed);
                DataShard.of(ModuleMethod.DISTDATA.command + " " + i + " of " + k, s.train().subset(parts[i]), s.train()).write(distDataShard(runDir, i));
            }
            if (!Files.exists(testShard(runDir))) {
                if (s == null) s = split();
                DataShard.of("test", s.test(), s.train()).write(testShard(runDir));
            }
        }
    }
}
