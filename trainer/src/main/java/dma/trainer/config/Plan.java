package dma.trainer.config;

import dma.models.Architecture;
import dma.models.ModelFamily;
import dma.models.assemble.Partition;
import dma.trainer.config.ConfigLoader.ConfigException;
import dma.trainer.stage.Costs;
import dma.trainer.stage.ModuleMethod;
import dma.trainer.stage.StageId;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;

/** A {@link RunConfig} with every default filled in and every field checked; errors name the field. */
public final class Plan {
    public final RunConfig config;
    public final String origin;
    public final long seed;
    public final int threads;
    public final String dataKind;
    public final Path dataPath;
    public final double trainFraction;
    public final int workers;
    /** The square size every image is zero-padded to; 0: as stored. */
    public final int padTo;
    public final Architecture target;
    public final Partition partition;
    public final int batchSize;
    public final String optimizer;
    public final double minLr, warmupLr, momentum, labelSmoothing;
    /** "fp32", or "bf16": every training step and evaluation runs under {@link dma.engine.Autocast#bf16()}. */
    public final String precision;

    /** The mixed-precision region a step runs in: bf16 autocast, or null (float32; try-with-resources skips a null). */
    public dma.engine.Autocast.Region autocast() {
        return precision.equals("bf16") ? dma.engine.Autocast.bf16() : null;
    }
    public final RunConfig.AugmentConfig augment;
    public final List<String> baselines;
    /**
     * The module methods the run trains: incubation (unless {@code assembling} is false, e.g. an E2E-only run of a
     * learning-rate sweep), then the baselines imitate and distdata where configured; the meta model is trained iff
     * this is not empty.
     */
    public final List<ModuleMethod> moduleMethods;
    /** Whether the run trains the E2E baseline. */
    public final boolean e2e;
    /**
     * Whether every method starts from weights selected from {@link #teacher} (config {@code "init": "select-weights"},
     * DESIGN §6.6) instead of random ones: E2E from the selected target, the meta model from weights selected for it,
     * each module from the selected target's blocks.
     */
    public final boolean initFromTeacher;
    public final int checkpointEvery;
    public final int evalLimit;
    /** How the pipeline runs the K module stages: sequential (in process), local (child processes) or slurm (an array job). */
    public final String launcher;
    /** Threads of each module process, if the config fixes it (weights depend on the thread count; see {@code module_threads}). */
    public final Integer moduleThreads;
    public final RunConfig.SlurmConfig slurm;
    public final String teacher;
    /**
     * Folders of other runs (a study's runs folder: its cells' run directories) in which a finished stage with the same
     * inputs ({@link dma.trainer.stage.StageKey}) is copied instead of trained again; empty: none.
     */
    public final List<Path> reuseStagesFrom;
    /** Budget mode's settings, or null when the stages' epochs are set by hand. */
    public final RunConfig.BudgetConfig budget;
    /** The epochs budget mode gives each recipe key (empty without a budget). */
    private final Map<String, Double> budgetEpochs;
    private Costs costs;

    /** A stage's resolved schedule. */
    public record Recipe(String stage, double epochs, double warmupEpochs, double lr, double dropPath, double clipGrad, double weightDecay) {}

    public Plan(RunConfig c, String origin) {
        this.config = c;
        this.origin = origin;
        seed = c.seed() != null ? c.seed() : 0L;
        threads = c.threads() != null ? positive("threads", c.threads()) : Runtime.getRuntime().availableProcessors();
        RunConfig.Data d = c.data() != null ? c.data() : new RunConfig.Data(null, null, null, null, null);
        dataKind = d.kind() != null ? d.kind() : "fashion_mnist";
        if (!List.of("fashion_mnist", "cifar", "folder").contains(dataKind))
            throw error("data.kind", "'" + dataKind + "' is not one of fashion_mnist, cifar, folder");
        if (d.path() == null && !dataKind.equals("fashion_mnist")) throw error("data.path", "is required for data.kind " + dataKind);
        dataPath = path("data.path", d.path() != null ? d.path() : "/usr/share/datasets/fashion-mnist");
        if (!Files.isDirectory(dataPath))
            throw error("data.path", "directory " + dataPath + " does not exist"
                    + (dataKind.equals("fashion_mnist") ? " (install Fashion-MNIST with: apt-get install dataset-fashion-mnist)" : ""));
        trainFraction = d.trainFraction() != null ? d.trainFraction() : 1.0;
        if (!(trainFraction > 0 && trainFraction <= 1)) throw error("data.train_fraction", "must be in (0, 1], got " + trainFraction);
        workers = d.workers() != null ? nonNegative("data.workers", d.workers()) : 1;
        padTo = d.padTo() != null ? positive("data.pad_to", d.padTo()) : 0;
        target = architecture(c.model());
        partition = partition(c);
        batchSize = c.batchSize() != null ? positive("batch_size", c.batchSize()) : 128;
        optimizer = c.optimizer() != null ? c.optimizer() : target.family().defaultOptimizer();
        if (!List.of("adamw", "sgd").contains(optimizer)) throw error("optimizer", "'" + optimizer + "' is not one of adamw, sgd");
        minLr = orDefault(c.minLr(), 1e-5);
        warmupLr = orDefault(c.warmupLr(), 1e-6);
        momentum = orDefault(c.momentum(), 0.9);
        labelSmoothing = orDefault(c.labelSmoothing(), 0.1);
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw error("label_smoothing", "must be in [0, 1), got " + labelSmoothing);
        precision = c.precision() != null ? c.precision() : "fp32";
        if (!List.of("fp32", "bf16").contains(precision))
            throw error("precision", "'" + precision + "' is not one of fp32, bf16 (bf16: matrix products on bf16 operands, float32 accumulation)");
        augment = c.augment() != null ? c.augment() : new RunConfig.AugmentConfig(0, false, 0.0, 0.0, 0.5, 0.0);
        baselines = c.baselines() != null ? c.baselines() : List.of(StageId.E2E_COMMAND);
        for (int i = 0; i < baselines.size(); i++)
            if (!RunConfig.BASELINES.contains(baselines.get(i)))
                throw error("baselines[" + i + "]", "'" + baselines.get(i) + "' is not one of " + RunConfig.BASELINES);
        List<ModuleMethod> methods = new ArrayList<>();
        if (c.assembling() == null || c.assembling()) methods.add(ModuleMethod.INCUBATE);
        for (ModuleMethod m : ModuleMethod.values()) if (m != ModuleMethod.INCUBATE && baselines.contains(m.command)) methods.add(m);
        moduleMethods = List.copyOf(methods);
        e2e = baselines.contains(StageId.E2E_COMMAND);
        if (moduleMethods.isEmpty() && !e2e) throw error("assembling", "is false and baselines name no method: the run would train nothing");
        if (c.stages() != null)
            for (String s : c.stages().keySet())
                if (!RunConfig.STAGES.contains(s)) throw error("stages." + s, "unknown stage; stages are " + RunConfig.STAGES);
        checkpointEvery = c.checkpointEvery() != null ? positive("checkpoint_every", c.checkpointEvery()) : 200;
        evalLimit = c.evalLimit() != null ? positive("eval_limit", c.evalLimit()) : Integer.MAX_VALUE;
        if (c.launcher() != null && !RunConfig.LAUNCHERS.contains(c.launcher()))
            throw error("launcher", "'" + c.launcher() + "' is not one of " + String.join(", ", RunConfig.LAUNCHERS));
        if (c.launcher() != null && c.parallelIncubation() != null && c.parallelIncubation() != c.launcher().equals("local"))
            throw error("parallel_incubation", c.parallelIncubation() + " disagrees with launcher '" + c.launcher() + "' (parallel_incubation is the old name of launcher: local)");
        launcher = c.launcher() != null ? c.launcher() : c.parallelIncubation() != null && c.parallelIncubation() ? "local" : "sequential";
        moduleThreads = c.moduleThreads() != null ? positive("module_threads", c.moduleThreads()) : null;
        slurm = c.slurm() != null ? c.slurm() : new RunConfig.SlurmConfig(null, null, null, null, null);
        if (slurm.gpusPerTask() != null && slurm.gpusPerTask() < 0) throw error("slurm.gpus_per_task", "must not be negative, got " + slurm.gpusPerTask());
        if (slurm.options() != null)
            for (int i = 0; i < slurm.options().size(); i++)
                if (slurm.options().get(i) == null || !slurm.options().get(i).startsWith("-"))
                    throw error("slurm.options[" + i + "]", "must be an sbatch option such as \"--qos=high\", got " + slurm.options().get(i));
        teacher = c.teacher();
        String init = c.init() != null ? c.init() : "random";
        if (!List.of("random", "select-weights").contains(init))
            throw error("init", "'" + init + "' is not one of random, select-weights (every method from weights selected from the config's teacher)");
        initFromTeacher = init.equals("select-weights");
        if (initFromTeacher && teacher == null)
            throw error("teacher", "is required by init select-weights: the trained checkpoint whose weights the methods start from");
        if (initFromTeacher && !Files.isRegularFile(Path.of(teacher))) throw error("teacher", "file " + teacher + " does not exist");
        reuseStagesFrom = c.reuseStagesFrom() == null ? List.of() : c.reuseStagesFrom().stream().map(Path::of).toList();
        budget = c.budget();
        budgetEpochs = budget == null ? Map.of() : budgetEpochs(budget);
        for (String s : RunConfig.STAGES) recipe(s); // validate every recipe now, not mid-pipeline
    }

    /**
     * The resolved schedule of a training stage. A baseline's modules (imitate, distdata) without a recipe of their own
     * follow incubation's, so that the methods differ only in their loss or data.
     */
    public Recipe recipe(StageId id) {
        String key = id.recipeKey();
        if (key == null) throw new IllegalArgumentException(id + " does not train: it has no recipe");
        if (id.isModule() && (config.stages() == null || !config.stages().containsKey(key))) return recipe(ModuleMethod.INCUBATE.command, key);
        return recipe(key);
    }

    /** The resolved schedule of a recipe key: its own fields, else the top-level ones, else the method's defaults. */
    public Recipe recipe(String stage) {
        return recipe(stage, stage);
    }

    /**
     * Training FLOPs per image of each kind of step this plan takes (measured once, by one step of each model on one image),
     * from which budget mode derives the epochs and {@code resolved.json} reports each method's cost.
     */
    public synchronized Costs costs() {
        if (costs == null) costs = Costs.probe(target, partition);
        return costs;
    }

    private Map<String, Double> budgetEpochs(RunConfig.BudgetConfig b) {
        if (b.e2eEpochs() == null) throw error("budget.e2e_epochs", "is required: the E2E baseline's epochs, which set the budget of every method");
        if (!(b.e2eEpochs() > 0)) throw error("budget.e2e_epochs", "must be positive, got " + b.e2eEpochs());
        double meta = orDefault(b.metaShare(), 0.25), modules = orDefault(b.modulesShare(), 0.5), finetune = orDefault(b.finetuneShare(), 0.25);
        // each share is a fraction of E2E's FLOPs; their sum is what a module method costs against E2E (1 by default; less,
        // e.g. a short fine-tuning, asks whether assembling matches E2E at a lower cost, as resolved.json's costs say)
        for (var share : Map.of("meta_share", meta, "modules_share", modules, "finetune_share", finetune).entrySet())
            if (!(share.getValue() > 0 && share.getValue() <= 1)) throw error("budget." + share.getKey(), "must be in (0, 1], got " + share.getValue());
        Map<String, Double> epochs = costs().epochs(b.e2eEpochs(), meta, modules, finetune);
        if (config.stages() != null)
            for (String key : epochs.keySet()) {
                RunConfig.StageRecipe r = config.stages().get(key);
                if (r != null && r.epochs() != null)
                    throw error("stages." + key + ".epochs", "is set by the budget (budget.e2e_epochs and the shares); remove one of the two");
            }
        return epochs;
    }

    /**
     * The schedule of recipe key {@code stage}, its length in budget mode that of {@code budgetKey} (a baseline's modules
     * follow incubation's recipe at their own budgeted length).
     */
    private Recipe recipe(String stage, String budgetKey) {
        RunConfig.StageRecipe r = config.stages() != null ? config.stages().get(stage) : null;
        if (r == null) r = new RunConfig.StageRecipe(null, null, null, null, null, null);
        String f = "stages." + stage + ".";
        double epochs = r.epochs() != null ? r.epochs() : budgetEpochs.getOrDefault(budgetKey, 1.0);
        if (!(epochs > 0)) throw error(f + "epochs", "must be positive, got " + epochs);
        // fine-tuning starts from trained weights: no warm-up (DESIGN §6.4)
        double warmup = r.warmupEpochs() != null ? r.warmupEpochs() : stage.equals(StageId.FINETUNE_COMMAND) ? 0.0 : Math.min(1.0, epochs / 5);
        if (!(warmup >= 0 && warmup <= epochs)) throw error(f + "warmup_epochs", "must be in [0, epochs], got " + warmup);
        // a family's recipe may fix the base lr, used unscaled (ConvNeXt with AdamW: 4e-3, the weight-selection recipe for ConvNeXt-F)
        OptionalDouble fixed = target.family().fixedBaseLr(optimizer);
        double base = r.baseLr() != null ? r.baseLr() : orDefault(config.baseLr(), fixed.orElse(optimizer.equals("sgd") ? 0.1 : 5e-4));
        boolean scale = config.scaleLrByBatch() != null ? config.scaleLrByBatch() : !optimizer.equals("sgd") && fixed.isEmpty();
        double lr = scale ? base * batchSize / 512.0 : base;
        if (!(lr > 0)) throw error(f + "base_lr", "must be positive, got " + base);
        // meta model and module incubation train without drop path in the meta parts' own training (§6.2)
        double dropPath = r.dropPath() != null ? r.dropPath() : stage.equals(StageId.META_COMMAND) ? 0.0 : 0.1;
        if (!(dropPath >= 0 && dropPath < 1)) throw error(f + "drop_path", "must be in [0, 1), got " + dropPath);
        double clip = r.clipGrad() != null ? r.clipGrad() : stage.equals(StageId.FINETUNE_COMMAND) ? 1.0 : 0.0;
        double wd = r.weightDecay() != null ? r.weightDecay() : orDefault(config.weightDecay(), optimizer.equals("sgd") ? 1e-4 : 0.05);
        return new Recipe(stage, epochs, warmup, lr, dropPath, clip, wd);
    }

    private Architecture architecture(Map<String, Object> m) {
        Map<String, Object> fields = new HashMap<>(m != null ? m : Map.of("preset", "vit_fmnist_tiny"));
        Object preset = fields.remove("preset");
        Architecture a;
        try {
            if (preset != null) {
                if (!(preset instanceof String p)) throw error("model.preset", "must be a string");
                a = ModelFamily.resolvePreset(p, fields);
            } else {
                Object name = fields.getOrDefault("model", "vit");
                ModelFamily<?> family = name instanceof String s ? ModelFamily.find(s).orElse(null) : null;
                if (family == null) throw error("model.model", "'" + name + "' is not one of " + String.join(", ", ModelFamily.names()));
                a = family.fromMap(fields);
            }
        } catch (IllegalArgumentException e) {
            if (e instanceof ConfigException) throw e;
            throw new ConfigException(origin + ": model: " + e.getMessage());
        }
        // a run config is strict (a misspelt field is an error); checkpoint metadata from other tools is not
        java.util.Set<String> known = a.toMap().keySet();
        for (String key : fields.keySet())
            if (!known.contains(key))
                throw error("model." + key, "is not a field of " + a.family() + " models (fields: preset, " + String.join(", ", new java.util.TreeSet<>(known)) + ")");
        return a;
    }

    private Partition partition(RunConfig c) {
        try {
            if (c.dividedDepths() != null) {
                if (c.modules() != null && c.modules() != c.dividedDepths().length)
                    throw error("modules", c.modules() + " disagrees with divided_depths, which lists " + c.dividedDepths().length + " modules");
                return withMetaDepth(Partition.of(target, c.dividedDepths()), c.metaDepth());
            }
            int k = c.modules() != null ? c.modules() : target.family().defaultModules();
            if (k > target.blocks()) throw error("modules", "K = " + k + " is more than the model's depth " + target.blocks());
            return withMetaDepth(Partition.equal(target, k), c.metaDepth());
        } catch (IllegalArgumentException e) {
            if (e instanceof ConfigException) throw e;
            throw new ConfigException(origin + ": " + (c.dividedDepths() != null ? "divided_depths" : "modules") + ": " + e.getMessage());
        }
    }

    /** The meta model's depth, K blocks (one per module) unless {@code meta_depth} asks for more. */
    private Partition withMetaDepth(Partition p, Integer metaDepth) {
        if (metaDepth == null) return p;
        if (metaDepth < p.modules())
            throw error("meta_depth", "must be at least K = " + p.modules() + " (one block per module), got " + metaDepth);
        try {
            return p.withMetaDepth(metaDepth);
        } catch (IllegalArgumentException e) {
            throw error("meta_depth", e.getMessage());
        }
    }

    private Path path(String field, String value) {
        try {
            return Path.of(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw error(field, "is not a path: " + e.getReason());
        }
    }

    private ConfigException error(String field, String message) {
        return new ConfigException(origin + ": field '" + field + "' " + message);
    }

    private int positive(String field, int v) {
        if (v <= 0) throw error(field, "must be positive, got " + v);
        return v;
    }

    private int nonNegative(String field, int v) {
        if (v < 0) throw error(field, "must not be negative, got " + v);
        return v;
    }

    private static double orDefault(Double v, double d) {
        return v != null ? v : d;
    }
}
