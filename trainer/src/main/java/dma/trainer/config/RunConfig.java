package dma.trainer.config;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import dma.trainer.stage.ModuleMethod;
import dma.trainer.stage.StageId;

import java.util.List;
import java.util.Map;

/**
 * Everything a run needs, read from one JSON file (snake_case fields; unknown fields are errors).
 * Stage recipes inherit the top-level optimizer settings and override what they name.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunConfig(
        @JsonProperty("seed") Long seed,
        @JsonProperty("threads") Integer threads,
        @JsonProperty("data") Data data,
        @JsonProperty("model") Map<String, Object> model,
        @JsonProperty("modules") Integer modules,
        @JsonProperty("divided_depths") int[] dividedDepths,
        @JsonProperty("meta_depth") Integer metaDepth,
        @JsonProperty("batch_size") Integer batchSize,
        @JsonProperty("optimizer") String optimizer,
        @JsonProperty("base_lr") Double baseLr,
        @JsonProperty("scale_lr_by_batch") Boolean scaleLrByBatch,
        @JsonProperty("min_lr") Double minLr,
        @JsonProperty("warmup_lr") Double warmupLr,
        @JsonProperty("weight_decay") Double weightDecay,
        @JsonProperty("momentum") Double momentum,
        @JsonProperty("label_smoothing") Double labelSmoothing,
        @JsonProperty("precision") String precision,
        @JsonProperty("augment") AugmentConfig augment,
        @JsonProperty("stages") Map<String, StageRecipe> stages,
        @JsonProperty("baselines") List<String> baselines,
        @JsonProperty("checkpoint_every") Integer checkpointEvery,
        @JsonProperty("eval_limit") Integer evalLimit,
        @JsonProperty("parallel_incubation") Boolean parallelIncubation,
        @JsonProperty("teacher") String teacher,
        @JsonProperty("launcher") String launcher,
        @JsonProperty("module_threads") Integer moduleThreads,
        @JsonProperty("slurm") SlurmConfig slurm,
        @JsonProperty("budget") BudgetConfig budget,
        @JsonProperty("assembling") Boolean assembling,
        @JsonProperty("reuse_stages_from") List<String> reuseStagesFrom,
        @JsonProperty("init") String init) {

    /** Where the images come from; {@code pad_to} zero-pads every image, centred, to that square size (28² → 32²). */
    public record Data(@JsonProperty("kind") String kind, @JsonProperty("path") String path,
                       @JsonProperty("train_fraction") Double trainFraction, @JsonProperty("workers") Integer workers,
                       @JsonProperty("pad_to") Integer padTo) {}

    /** Augmentation of training batches (DESIGN §6.2; off by default for the small embedded runs). */
    public record AugmentConfig(@JsonProperty("pad_crop") Integer padCrop, @JsonProperty("flip") Boolean flip,
                                @JsonProperty("mixup") Double mixup, @JsonProperty("cutmix") Double cutmix,
                                @JsonProperty("switch_prob") Double switchProb, @JsonProperty("erase") Double erase) {}

    /** One stage's schedule; null fields inherit the top-level value. */
    public record StageRecipe(@JsonProperty("epochs") Double epochs, @JsonProperty("warmup_epochs") Double warmupEpochs,
                              @JsonProperty("base_lr") Double baseLr, @JsonProperty("drop_path") Double dropPath,
                              @JsonProperty("clip_grad") Double clipGrad, @JsonProperty("weight_decay") Double weightDecay) {}

    /**
     * Budget mode: every stage's length derived from one training budget, E2E's {@code e2e_epochs} of the target, so
     * that every method costs the same training FLOPs; the meta model, the K modules and the fine-tuning take the given
     * shares of it (default 0.25 / 0.5 / 0.25; their sum is a module method's cost against E2E's).
     */
    public record BudgetConfig(@JsonProperty("e2e_epochs") Double e2eEpochs, @JsonProperty("meta_share") Double metaShare,
                               @JsonProperty("modules_share") Double modulesShare, @JsonProperty("finetune_share") Double finetuneShare) {}

    /**
     * What the slurm launcher adds to every sbatch call (DESIGN §8): partition, time limit, account, GPUs per
     * training task, and any other sbatch options verbatim (e.g. "--qos=high"). Null fields are left to the cluster.
     */
    public record SlurmConfig(@JsonProperty("partition") String partition, @JsonProperty("time") String time,
                              @JsonProperty("account") String account, @JsonProperty("gpus_per_task") Integer gpusPerTask,
                              @JsonProperty("options") List<String> options) {}

    public static final List<String> LAUNCHERS = List.of("sequential", "local", "slurm");
    /** The keys of {@code stages}: every training stage's recipe key ({@link StageId#recipeKey}). */
    public static final List<String> STAGES = List.of(StageId.E2E.recipeKey(), StageId.META.recipeKey(), ModuleMethod.INCUBATE.command,
            ModuleMethod.IMITATE.command, ModuleMethod.DISTDATA.command, StageId.finetune(ModuleMethod.INCUBATE).recipeKey(),
            StageId.SELECT_WEIGHTS.recipeKey());
    /** What {@code baselines} may name: the E2E baseline and the module methods other than incubation. */
    public static final List<String> BASELINES = List.of(StageId.E2E_COMMAND, ModuleMethod.IMITATE.command, ModuleMethod.DISTDATA.command);
}
