package dma.trainer.stage;

import dma.trainer.config.Plan;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One stage of a run, as a value: what it does ({@link Kind}), for which module method (the K modules of a method,
 * and that method's assembly and fine-tuning), and which module. It owns every name a stage has: its directory
 * ({@code incubate-2}, {@code assemble-imitate}), its output file, its recipe key in the config, the method it counts
 * toward in the summary, and the command line that runs it alone ({@link #argv}), which every launcher and
 * {@code dma status} use. The pipeline's stages in order come from {@link #pipeline}.
 *
 * @param method for MODULE, ASSEMBLE and FINETUNE: whose modules; else null
 * @param module for MODULE: the module index 0..K-1; else -1
 */
public record StageId(Kind kind, ModuleMethod method, int module) {
    /** The command words, which are also the stage directories' names (picocli's annotations need them as constants). */
    public static final String META_COMMAND = "meta", INCUBATE = "incubate", IMITATE = "imitate", DISTDATA = "distdata",
            ASSEMBLE_COMMAND = "assemble", FINETUNE_COMMAND = "finetune", E2E_COMMAND = "e2e", SELECT_WEIGHTS_COMMAND = "select-weights",
            PIPELINE_COMMAND = "pipeline";
    /** The stage options that name a module, a method, a start checkpoint; and the pipeline's report-only switch. */
    public static final String MODULE_OPTION = "--module", METHOD_OPTION = "--method", INIT_OPTION = "--init", REPORT_ONLY = "--report-only";

    /** What a stage does. */
    public enum Kind {
        /** The meta model: one block per module, trained end to end. */
        META,
        /** Module i of a method, trained inside the frozen meta model. */
        MODULE,
        /** The K modules of a method assembled into the target. */
        ASSEMBLE,
        /** The assembled target fine-tuned end to end. */
        FINETUNE,
        /** The E2E baseline: the target trained from scratch. */
        E2E,
        /** The target trained end to end from a given checkpoint ({@code dma e2e --init C}), e.g. a weight-selected one. */
        E2E_INIT,
        /** Weight selection: the target initialized from a larger trained teacher. */
        SELECT_WEIGHTS,
        /** Not a training stage: the summary and plots of a run whose stages have all finished (the Slurm launch's last job). */
        REPORT
    }

    public static final StageId META = new StageId(Kind.META, null, -1);
    public static final StageId E2E = new StageId(Kind.E2E, null, -1);
    public static final StageId E2E_INIT = new StageId(Kind.E2E_INIT, null, -1);
    public static final StageId SELECT_WEIGHTS = new StageId(Kind.SELECT_WEIGHTS, null, -1);
    public static final StageId REPORT = new StageId(Kind.REPORT, null, -1);

    public StageId {
        boolean modular = kind == Kind.MODULE || kind == Kind.ASSEMBLE || kind == Kind.FINETUNE;
        if (modular != (method != null)) throw new IllegalArgumentException(kind + (modular ? " needs" : " takes no") + " module method");
        if ((kind == Kind.MODULE) != (module >= 0)) throw new IllegalArgumentException(kind + (kind == Kind.MODULE ? " needs" : " takes no") + " module index");
    }

    public static StageId module(ModuleMethod method, int i) {
        if (i < 0) throw new IllegalArgumentException("module index must not be negative, got " + i);
        return new StageId(Kind.MODULE, method, i);
    }

    public static StageId assemble(ModuleMethod method) {
        return new StageId(Kind.ASSEMBLE, method, -1);
    }

    public static StageId finetune(ModuleMethod method) {
        return new StageId(Kind.FINETUNE, method, -1);
    }

    /**
     * Every stage the plan runs, in pipeline order: meta (when a module method runs); the K modules of each module method (incubate, then the
     * configured baselines imitate and distdata); each method's assemble and finetune; e2e if configured.
     */
    public static List<StageId> pipeline(Plan plan) {
        List<StageId> ids = new ArrayList<>();
        if (!plan.moduleMethods.isEmpty()) ids.add(META);
        for (ModuleMethod m : plan.moduleMethods)
            for (int i = 0; i < plan.partition.modules(); i++) ids.add(module(m, i));
        for (ModuleMethod m : plan.moduleMethods) {
            ids.add(assemble(m));
            ids.add(finetune(m));
        }
        if (plan.e2e) ids.addAll(e2eStages(plan));
        return ids;
    }

    /**
     * The stages of the E2E baseline: E2E from random weights, or (config {@code "init": "select-weights"}) weight
     * selection from the config's teacher, then E2E from the selected weights.
     */
    public static List<StageId> e2eStages(Plan plan) {
        return plan.initFromTeacher ? List.of(SELECT_WEIGHTS, E2E_INIT) : List.of(E2E);
    }

    /**
     * What a stage of a pipeline starts from outside its own inputs: the teacher of select-weights, the selected
     * weights (select-weights' output) of e2e-init; null for the others.
     */
    public Path pipelineStart(Plan plan, Path runDir) {
        return switch (kind) {
            case SELECT_WEIGHTS -> plan.teacher == null ? null : Path.of(plan.teacher);
            case E2E_INIT -> SELECT_WEIGHTS.output(runDir);
            default -> null;
        };
    }

    /**
     * The stage's name, which is its directory in the run: meta, incubate-i, imitate-i, distdata-i, assemble,
     * assemble-imitate, finetune, finetune-distdata, e2e, e2e-init, select-weights, report.
     */
    public String name() {
        return switch (kind) {
            case META -> META_COMMAND;
            case MODULE -> method.command + "-" + module;
            case ASSEMBLE -> ASSEMBLE_COMMAND + suffix();
            case FINETUNE -> FINETUNE_COMMAND + suffix();
            case E2E -> E2E_COMMAND;
            case E2E_INIT -> E2E_COMMAND + "-init";
            case SELECT_WEIGHTS -> SELECT_WEIGHTS_COMMAND;
            case REPORT -> "report";
        };
    }

    /** Model Assembling's own assembly and fine-tuning carry no suffix; the baselines' carry their method. */
    private String suffix() {
        return method == ModuleMethod.INCUBATE ? "" : "-" + method.command;
    }

    /** The stage named {@code name} (a stage directory's name), or an error naming it. */
    public static StageId parse(String name) {
        for (Kind k : List.of(Kind.META, Kind.E2E, Kind.E2E_INIT, Kind.SELECT_WEIGHTS, Kind.REPORT)) {
            StageId id = new StageId(k, null, -1);
            if (id.name().equals(name)) return id;
        }
        for (ModuleMethod m : ModuleMethod.values()) {
            if (assemble(m).name().equals(name)) return assemble(m);
            if (finetune(m).name().equals(name)) return finetune(m);
            String prefix = m.command + "-";
            if (name.startsWith(prefix) && name.length() > prefix.length() && name.substring(prefix.length()).chars().allMatch(Character::isDigit)
                    && name.length() - prefix.length() < 10)
                return module(m, Integer.parseInt(name.substring(prefix.length())));
        }
        throw new IllegalArgumentException("'" + name + "' is not a stage: stages are meta, incubate-i, imitate-i, distdata-i, assemble[-METHOD], "
                + "finetune[-METHOD], e2e, e2e-init, select-weights, report");
    }

    @Override
    public String toString() {
        return name();
    }

    /** The stage's directory in the run (the run directory itself for the report). */
    public Path dir(Path runDir) {
        return kind == Kind.REPORT ? runDir : runDir.resolve(name());
    }

    /** The stage's output: {@code module.safetensors} (under the target's names) for a module, else {@code model.safetensors}. */
    public Path output(Path runDir) {
        if (kind == Kind.REPORT) throw new IllegalStateException("the report has no model output");
        return dir(runDir).resolve(kind == Kind.MODULE ? "module.safetensors" : "model.safetensors");
    }

    /**
     * The key of the stage's recipe in the config's {@code stages}: meta, incubate, imitate, distdata, finetune, e2e,
     * select-weights (null for assembly and the report, which do not train). A baseline's modules without a recipe of
     * their own follow incubate's ({@link Plan#moduleRecipe}).
     */
    public String recipeKey() {
        return switch (kind) {
            case META -> META_COMMAND;
            case MODULE -> method.command;
            case FINETUNE -> FINETUNE_COMMAND;
            case E2E, E2E_INIT -> E2E_COMMAND;
            case SELECT_WEIGHTS -> SELECT_WEIGHTS_COMMAND;
            case ASSEMBLE, REPORT -> null;
        };
    }

    /** The method the stage counts toward in the summary: the meta model toward Model Assembling (and every method built on it). */
    public String summaryMethod() {
        return switch (kind) {
            case META -> ModuleMethod.INCUBATE.summaryName;
            case MODULE, ASSEMBLE, FINETUNE -> method.summaryName;
            case E2E, E2E_INIT -> E2E_COMMAND;
            case SELECT_WEIGHTS -> "weight-selection";
            case REPORT -> throw new IllegalStateException("the report counts toward no method");
        };
    }

    /** Whether the stage trains a module of the meta model (its thread count is the run's module threads). */
    public boolean isModule() {
        return kind == Kind.MODULE;
    }

    /**
     * The command words that run this stage alone: {@code incubate --module 2}, {@code assemble --method imitate},
     * {@code meta}, {@code pipeline --report-only}. E2E_INIT needs its start checkpoint: see {@link #e2eInit}.
     */
    public List<String> command() {
        return switch (kind) {
            case META -> List.of(META_COMMAND);
            case MODULE -> moduleCommand(method, Integer.toString(module));
            case ASSEMBLE -> List.of(ASSEMBLE_COMMAND, METHOD_OPTION, method.command);
            case FINETUNE -> List.of(FINETUNE_COMMAND, METHOD_OPTION, method.command);
            case E2E -> List.of(E2E_COMMAND);
            case E2E_INIT -> throw new IllegalStateException("e2e-init runs from a checkpoint: use StageId.e2eInit(checkpoint)");
            case SELECT_WEIGHTS -> List.of(SELECT_WEIGHTS_COMMAND);
            case REPORT -> List.of(PIPELINE_COMMAND, REPORT_ONLY);
        };
    }

    /** The command of a method's module {@code index}, which may be a shell word such as {@code $SLURM_ARRAY_TASK_ID}. */
    public static List<String> moduleCommand(ModuleMethod method, String index) {
        return List.of(method.command, MODULE_OPTION, index);
    }

    /** The command that trains the target from {@code checkpoint} (stage e2e-init). */
    public static List<String> e2eInit(Path checkpoint) {
        return List.of(E2E_COMMAND, INIT_OPTION, checkpoint.toString());
    }

    /** The whole argument vector of {@code dma}: the command, then the run's options (the report takes only config and run directory). */
    public List<String> argv(RunArgs run) {
        // in a run, e2e-init starts from the run's own selected weights
        List<String> a = new ArrayList<>(kind == Kind.E2E_INIT ? e2eInit(SELECT_WEIGHTS.output(run.runDir())) : command());
        a.addAll((kind == Kind.REPORT ? new RunArgs(run.config(), run.runDir(), null, null, false) : run).argv());
        return a;
    }
}
