package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.CounterRng;
import dma.engine.Flops;
import dma.engine.GradMode;
import dma.engine.OpProfile;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.io.Faults;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.engine.ops.OptimOps;
import dma.models.ImageClassifier;
import dma.trainer.config.Plan;
import dma.trainer.data.BatchLoader;
import dma.trainer.data.Dataset;
import dma.trainer.optim.Optimizer;
import dma.trainer.optim.Schedule;
import dma.trainer.report.MetricsLog;
import dma.trainer.ui.Progress;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop every stage shares: batches from a deterministic loader, the stage's objective,
 * backward, optional clipping, an optimizer step on the trainable tensors, progress, metrics, an
 * evaluation per epoch, and an atomic training checkpoint every N steps from which a killed run resumes
 * to the same weights (batches, masks and learning rates depend only on the seed and the step).
 */
public final class StageRunner {
    /** The stage's loss for one batch. */
    @FunctionalInterface
    public interface Objective {
        Tensor loss(ImageClassifier model, Tensor images, Tensor targets, Rng rng);
    }

    /** What one stage trains, on what, for how long. */
    public record Spec(String stage, Path dir, ImageClassifier model, Map<String, Tensor> trainable, Objective objective,
                       Dataset train, Dataset test, Plan.Recipe recipe, long steps, long seed) {}

    /**
     * What a finished stage cost and reached.
     *
     * @param accuracy      top-1 on the whole test set ({@code testImages} images)
     * @param trainLoss     the objective's mean over the last epoch's steps
     * @param trainAccuracy top-1 on the first {@code trainSample} training images, without augmentation
     */
    public record Result(String stage, double wallSeconds, Flops.Count flops, long images, double accuracy, long steps,
                         double trainLoss, double trainAccuracy, int testImages, int trainSample, Double cpuSeconds) {}

    /**
     * CPU time this process has spent, all threads together, in seconds: the cost of a stage that other work sharing the
     * machine does not inflate as it does wall time.
     */
    static double processCpuSeconds() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean b ? b.getProcessCpuTime() / 1e9 : Double.NaN;
    }

    /** CPU seconds since {@code start} (a {@link #processCpuSeconds} reading), null where not measurable. */
    static Double cpuSince(double start) {
        double cpu = processCpuSeconds() - start;
        return Double.isFinite(cpu) ? cpu : null;
    }

    /** The most epoch-end evaluations a stage makes (beside the four at its quarters and the one at its end). */
    static final int EVALS = 32;

    /** A stage's training checkpoint in its directory, written every checkpoint_every steps and deleted once it has finished. */
    static final String STATE_FILE = "state.safetensors";

    /** Training images the final model is evaluated on (the first ones of the stage's training set): a 2σ error of at most ±1.4 points. */
    static final int TRAIN_SAMPLE = 5_000;

    /** Training stopped on a NaN or infinite loss. */
    public static final class DivergedException extends IllegalStateException {
        public DivergedException(String message) {
            super(message);
        }
    }

    private final Plan plan;
    private final Backend backend;
    /** Per-channel normalization of the full training set, used for every stage's batches and for evaluation. */
    private final float[] mean, std;
    /** The timeline asked for, or null. */
    private StageTrace trace;

    public StageRunner(Plan plan, Backend backend, float[] mean, float[] std) {
        this.plan = plan;
        this.backend = backend;
        this.mean = mean.clone();
        this.std = std.clone();
    }

    /** Traces a few steps of the stages this runner trains ({@link StageTrace}); null: none. */
    public StageRunner traced(StageTrace t) {
        trace = t;
        return this;
    }

    /** Steps that {@code epochs} epochs of {@code data} take at the plan's batch size. */
    public long stepsFor(Dataset data, double epochs) {
        return stepsFor(data.size(), epochs);
    }

    /** Steps that {@code epochs} epochs of a set of {@code size} images take at the plan's batch size. */
    public long stepsFor(int size, double epochs) {
        long perEpoch = Math.max(1, size / plan.batchSize);
        return Math.max(1, Math.round(epochs * perEpoch));
    }

    public Result run(Spec spec, boolean resume) throws java.io.IOException {
        Files.createDirectories(spec.dir());
        Path state = spec.dir().resolve(STATE_FILE);
        String stepPoint = "step/" + spec.stage(); // a fault-injection point, built once rather than every step
        Plan.Recipe r = spec.recipe();
        ImageClassifier model = spec.model();
        model.train(true);
        List<Tensor> trainable = new ArrayList<>(spec.trainable().values());
        // a stage that starts again from step 0 (a resubmitted job that died before its first checkpoint) starts a fresh log
        if (!(resume && Files.exists(state))) Files.deleteIfExists(spec.dir().resolve(MetricsLog.FILE));
        try (MetricsLog log = new MetricsLog(spec.dir()); // one log per stage: parallel incubations never share a file
             Optimizer opt = Optimizer.create(plan.optimizer, spec.trainable(), r.weightDecay(), plan.momentum);
             BatchLoader loader = new BatchLoader(spec.train(), plan.batchSize, augment(), mean, std,
                     spec.seed(), true, plan.workers);
             StageTrace.Recorder tracing = StageTrace.recorder(trace, spec.stage(), backend)) {
            int perEpoch = loader.stepsPerEpoch();
            long total = spec.steps();
            // warm-up as a fraction of the stage, so a DistData shard (more, shorter epochs) warms up as long as the others
            Schedule schedule = new Schedule(r.lr(), plan.warmupLr, plan.minLr, Math.round(total * r.warmupEpochs() / r.epochs()), total);
            long step = 0;
            double wallBefore = 0, cpuBefore = 0;
            // the last epoch's losses, summed for the stage's final training loss (carried across a resume)
            long lastEpochStart = Math.max(0, total - perEpoch);
            double lastEpochLossSum = 0;
            Flops.Count flopsBefore = new Flops.Count(0, 0, 0);
            if (resume && Files.exists(state)) {
                Map<String, String> meta = restore(state, model, opt);
                step = Long.parseLong(meta.get("step"));
                wallBefore = Double.parseDouble(meta.get("wall_s"));
                cpuBefore = Double.parseDouble(meta.getOrDefault("cpu_s", "NaN")); // NaN: a checkpoint written before CPU time was
                lastEpochLossSum = Double.parseDouble(meta.getOrDefault("last_epoch_loss_sum", "0"));
                flopsBefore = new Flops.Count(Long.parseLong(meta.get("flops_forward")), Long.parseLong(meta.get("flops_input_grad")),
                        Long.parseLong(meta.get("flops_weight_grad")));
                System.err.printf("%s: resuming at step %d of %d from %s%n", spec.stage(), step, total, state);
            }
            long t0 = System.nanoTime();
            double cpu0 = processCpuSeconds();
            Flops.Count flops0 = Flops.now();
            Progress bar = new Progress(spec.stage(), total, "step").from(step);
            int logEvery = (int) Math.max(1, total / 50);
            // evaluate at every epoch's end, but at most about 32 times a stage (every 4th epoch of 120: on a small data set the
            // evaluations would cost nearly half the training), and at least four times, so short stages still draw a curve
            long epochs = (total + perEpoch - 1) / perEpoch;
            long evalEpochs = perEpoch * ((epochs + EVALS - 1) / EVALS), evalQuarter = Math.max(1, (total + 3) / 4);
            double lastLoss = Double.NaN;
            Double lastAccuracy = null;
            int epoch = (int) (step / perEpoch);
            loader.start(epoch, (int) (step % perEpoch));
            while (step < total) {
                tracing.beforeStep(step, total);
                if (step > 0 && step % perEpoch == 0 && step / perEpoch != epoch) loader.start(epoch = (int) (step / perEpoch), 0);
                BatchLoader.Batch batch = loader.next();
                float lr = (float) schedule.at(step);
                try (Scope s = Scope.open(); var precision = plan.autocast()) {
                    Tensor x = Tensor.of(backend, batch.images(), batch.size(), spec.train().channels(), spec.train().height(), spec.train().width());
                    Tensor y = Tensor.of(backend, batch.targets(), batch.size(), spec.train().classes());
                    opt.zeroGrad();
                    OpProfile.mark("next batch, zero gradients"); // no-op unless traced
                    Tensor loss = spec.objective().loss(model, x, y, new Rng(CounterRng.derive(spec.seed(), 1_000_003L * step)));
                    lastLoss = loss.item();
                    if (step >= lastEpochStart) lastEpochLossSum += lastLoss;
                    if (!Double.isFinite(lastLoss))
                        throw new DivergedException(spec.stage() + ": loss is " + lastLoss + " at step " + step + "; stopped. "
                                + (Files.exists(state) ? "The last good checkpoint is " + state : "No checkpoint was written yet."));
                    loss.backward();
                    if (r.clipGrad() > 0) OptimOps.clipGradNorm(trainable, r.clipGrad());
                    opt.step(lr);
                }
                tracing.afterStep(step);
                step++;
                double wall = wallBefore + (System.nanoTime() - t0) / 1e9;
                Flops.Count flops = flopsBefore.plus(Flops.now().minus(flops0));
                bar.update(step, String.format("loss %.4f lr %.2e", lastLoss, lr));
                Double acc = null;
                if (step % evalEpochs == 0 || step % evalQuarter == 0 || step == total) {
                    // evaluation is not training cost: take its forward FLOPs back out
                    Flops.Count beforeEval = Flops.now();
                    acc = lastAccuracy = evaluate(model, spec.test());
                    flops0 = flops0.plus(Flops.now().minus(beforeEval));
                }
                if (acc != null || step % logEvery == 0)
                    log.log(new MetricsLog.Metric(spec.stage(), step, (int) ((step - 1) / perEpoch) + 1, lastLoss, lr,
                            (double) step * plan.batchSize / Math.max(wall, 1e-9), acc, wall, flops.total()));
                if (step % plan.checkpointEvery == 0 && step < total)
                    save(state, model, opt, step, wall, cpuBefore + processCpuSeconds() - cpu0, flops, lastEpochLossSum);
                Faults.reach(stepPoint);
            }
            double wall = wallBefore + (System.nanoTime() - t0) / 1e9;
            Flops.Count flops = flopsBefore.plus(Flops.now().minus(flops0));
            // per-epoch evaluations may use a prefix of the test set (eval_limit); the stage's result uses all of it
            double accuracy = plan.evalLimit >= spec.test().size() && lastAccuracy != null ? lastAccuracy : evaluate(model, spec.test(), Integer.MAX_VALUE);
            int sample = Math.min(TRAIN_SAMPLE, spec.train().size());
            double trainAccuracy = evaluate(model, spec.train(), sample);
            return new Result(spec.stage(), wall, flops, total * plan.batchSize, accuracy, total, lastEpochLossSum / (total - lastEpochStart),
                    trainAccuracy, spec.test().size(), sample, cpuSince(cpu0 - cpuBefore));
        }
    }

    private dma.trainer.data.Augment augment() {
        var a = plan.augment;
        return new dma.trainer.data.Augment(a.padCrop() != null ? a.padCrop() : 0, a.flip() != null && a.flip(),
                a.mixup() != null ? a.mixup().floatValue() : 0f, a.cutmix() != null ? a.cutmix().floatValue() : 0f,
                a.switchProb() != null ? a.switchProb().floatValue() : 0.5f, 1f, a.erase() != null ? a.erase().floatValue() : 0f);
    }

    /** Top-1 accuracy on (at most eval_limit images of) {@code test}, in eval mode without a tape. */
    public double evaluate(ImageClassifier model, Dataset test) {
        return evaluate(model, test, plan.evalLimit);
    }

    public double evaluate(ImageClassifier model, Dataset test, int limit) {
        Dataset data = test.size() > limit ? test.subset(java.util.stream.IntStream.range(0, limit).toArray()) : test;
        model.train(false);
        int correct = 0;
        try (GradMode off = GradMode.disabled();
             BatchLoader loader = new BatchLoader(data, plan.batchSize, dma.trainer.data.Augment.none(), mean, std, 0, false, 0)) {
            loader.start(0, 0);
            for (int b = 0; b < loader.stepsPerEpoch(); b++) {
                BatchLoader.Batch batch = loader.next();
                try (Scope s = Scope.open(); var precision = plan.autocast()) {
                    Tensor x = Tensor.of(backend, batch.images(), batch.size(), data.channels(), data.height(), data.width());
                    float[] logits = model.forward(x, null).toFloats();
                    int classes = logits.length / batch.size();
                    for (int i = 0; i < batch.size(); i++) {
                        int best = 0;
                        for (int c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
                        if (best == batch.labels()[i]) correct++;
                    }
                }
            }
        } finally {
            model.train(true);
        }
        return (double) correct / data.size();
    }

    /**
     * Re-estimates every BatchNorm layer's running statistics as the even average of {@code batches} shuffled training
     * batches' statistics (train mode, no augmentation, no tape; the weights are not touched), for a model whose
     * running statistics were gathered elsewhere: an assembled model's modules each gathered theirs on the meta
     * model's features, which the other modules no longer produce. Returns the images used, 0 for a model without BatchNorm.
     */
    public long recalibrateBatchNorm(ImageClassifier model, Dataset train, int batches, long seed) {
        List<dma.models.nn.BatchNorm2d> norms = model.modulesOf(dma.models.nn.BatchNorm2d.class);
        if (norms.isEmpty()) return 0;
        long images = 0;
        model.train(true);
        try (GradMode off = GradMode.disabled();
             BatchLoader loader = new BatchLoader(train, plan.batchSize, dma.trainer.data.Augment.none(), mean, std, seed, true, 0)) {
            loader.start(0, 0);
            int n = Math.min(batches, loader.stepsPerEpoch());
            for (int b = 0; b < n; b++) {
                float weight = 1f / (b + 1);
                norms.forEach(bn -> bn.momentum(weight));
                BatchLoader.Batch batch = loader.next();
                try (Scope s = Scope.open(); var precision = plan.autocast()) {
                    model.forward(Tensor.of(backend, batch.images(), batch.size(), train.channels(), train.height(), train.width()), null);
                }
                images += batch.size();
            }
        } finally {
            norms.forEach(bn -> bn.momentum(dma.models.nn.BatchNorm2d.MOMENTUM));
        }
        return images;
    }

    private void save(Path file, ImageClassifier model, Optimizer opt, long step, double wall, double cpu, Flops.Count flops, double lastEpochLossSum) {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> tensors.put("model." + k, v));
        tensors.putAll(opt.stateDict());
        Map<String, String> meta = new LinkedHashMap<>(); // ordered, so that a checkpoint's bytes depend only on its contents
        meta.put("step", Long.toString(step));
        meta.put("optimizer_steps", Integer.toString(opt.steps()));
        meta.put("wall_s", Double.toString(wall));
        meta.put("cpu_s", Double.toString(cpu));
        meta.put("flops_forward", Long.toString(flops.forward()));
        meta.put("flops_input_grad", Long.toString(flops.inputGrad()));
        meta.put("flops_weight_grad", Long.toString(flops.weightGrad()));
        meta.put("last_epoch_loss_sum", Double.toString(lastEpochLossSum));
        TensorFiles.save(file, tensors, meta);
    }

    private Map<String, String> restore(Path file, ImageClassifier model, Optimizer opt) {
        try {
            return restoreFrom(file, model, opt);
        } catch (RuntimeException e) {
            // never train on from a damaged state: say which file, and that deleting it restarts the stage from its start
            throw new IllegalStateException(file + " cannot be resumed from (" + e.getMessage() + "); delete it to train the stage again "
                    + "from its start, or run without --resume", e);
        }
    }

    private Map<String, String> restoreFrom(Path file, ImageClassifier model, Optimizer opt) {
        Safetensors.Loaded loaded = Safetensors.read(file);
        for (String key : List.of("step", "optimizer_steps", "wall_s", "flops_forward", "flops_input_grad", "flops_weight_grad"))
            if (loaded.metadata().get(key) == null) throw new IllegalArgumentException("its metadata has no '" + key + "'");
        Map<String, Tensor> modelState = new LinkedHashMap<>(), optState = new LinkedHashMap<>();
        try {
            loaded.tensors().forEach((k, v) -> {
                if (k.startsWith("model.")) modelState.put(k.substring(6), TensorFiles.fromHost(backend, v));
                else optState.put(k, TensorFiles.fromHost(backend, v));
            });
            model.load(modelState, file.toString(), true);
            opt.loadStateDict(optState, Integer.parseInt(loaded.metadata().get("optimizer_steps")), file.toString());
        } finally {
            modelState.values().forEach(Tensor::close);
            optState.values().forEach(Tensor::close);
        }
        return loaded.metadata();
    }
}
