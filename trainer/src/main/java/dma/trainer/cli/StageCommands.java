package dma.trainer.cli;

import dma.trainer.config.Plan;
import dma.trainer.report.Summary;
import dma.trainer.stage.ModuleMethod;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** One command per stage; each reads and writes the run directory, so they compose across processes and machines. */
public final class StageCommands {
    private StageCommands() {}

    /** Runs one stage through the one door ({@link Stages#run}) and prints its result. */
    static void runStage(RunOptions run, StageId id, Path from) {
        Plan plan = run.plan();
        print(run.stages(plan).run(id, from));
    }

    private static void print(Summary.StageResult r) {
        System.out.printf("%s: accuracy %.2f%%, %.1f s, %.3g FLOPs%n", r.name(), 100 * (r.accuracy() == null ? Double.NaN : r.accuracy()),
                r.wallSeconds(), (double) r.totalFlops());
    }

    @Command(name = StageId.META_COMMAND, mixinStandardHelpOptions = true, description = "Train the meta model (one block per module) end to end.")
    public static final class Meta implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Override
        public Integer call() throws Exception {
            runStage(run, StageId.META, null);
            return 0;
        }
    }

    @Command(name = StageId.E2E_COMMAND, mixinStandardHelpOptions = true, description = "Train the target model end to end (the E2E baseline).")
    public static final class E2e implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = StageId.INIT_OPTION, description = "Start from this checkpoint (e.g. the output of select-weights) instead of random weights "
                + "(default: random, or with the config's \"init\": \"select-weights\" the run's select-weights output).")
        Path init;

        @Override
        public Integer call() throws Exception {
            if (init != null) runStage(run, StageId.E2E_INIT, init);
            else { // as in the pipeline: from random weights, or (init select-weights) from the run's selected weights
                Plan plan = run.plan();
                print(run.stages(plan).run(plan.initFromTeacher ? StageId.E2E_INIT : StageId.E2E));
            }
            return 0;
        }
    }

    /** incubate / imitate / distdata: one module (--module i), or all K in turn. */
    abstract static class ModuleStage implements Callable<Integer> {
        @Mixin RunOptions run;

        @Option(names = StageId.MODULE_OPTION, description = "The module to train, 0..K-1 (default: all, one after another).")
        Integer module;

        abstract ModuleMethod method();

        @Override
        public Integer call() throws Exception {
            Plan plan = run.plan();
            int k = plan.partition.modules();
            if (module != null && (module < 0 || module >= k))
                throw new IllegalArgumentException(StageId.MODULE_OPTION + " " + module + ": modules are 0.." + (k - 1) + " (" + plan.partition + ")");
            Stages stages = run.stages(plan); // reads the data once, and only if some module has to run
            for (int i = 0; i < k; i++) if (module == null || module == i) print(stages.run(StageId.module(method(), i)));
            return 0;
        }
    }

    @Command(name = StageId.INCUBATE, mixinStandardHelpOptions = true, description = "Incubate module i inside the frozen meta model (task loss).")
    public static final class Incubate extends ModuleStage implements Subcommand {
        ModuleMethod method() { return ModuleMethod.INCUBATE; }
    }

    @Command(name = StageId.IMITATE, mixinStandardHelpOptions = true, description = "Module Imitation baseline: train module i to match the meta block's features (L1).")
    public static final class Imitate extends ModuleStage implements Subcommand {
        ModuleMethod method() { return ModuleMethod.IMITATE; }
    }

    @Command(name = StageId.DISTDATA, mixinStandardHelpOptions = true, description = "DistData baseline: incubate module i on its own 1/K share of the data.")
    public static final class DistData extends ModuleStage implements Subcommand {
        ModuleMethod method() { return ModuleMethod.DISTDATA; }
    }

    @Command(name = StageId.ASSEMBLE_COMMAND, mixinStandardHelpOptions = true, description = "Assemble the K module checkpoints into the target model.")
    public static final class Assemble implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = StageId.METHOD_OPTION, description = "Which modules: incubate, imitate or distdata (default: ${DEFAULT-VALUE}).")
        String method = StageId.INCUBATE;

        @Override
        public Integer call() throws Exception {
            runStage(run, StageId.assemble(method(method)), null);
            return 0;
        }
    }

    @Command(name = StageId.FINETUNE_COMMAND, mixinStandardHelpOptions = true, description = "Fine-tune the assembled model end to end.")
    public static final class Finetune implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = StageId.METHOD_OPTION, description = "Which assembly: incubate, imitate or distdata (default: ${DEFAULT-VALUE}).")
        String method = StageId.INCUBATE;

        @Override
        public Integer call() throws Exception {
            runStage(run, StageId.finetune(method(method)), null);
            return 0;
        }
    }

    @Command(name = StageId.SELECT_WEIGHTS_COMMAND, mixinStandardHelpOptions = true,
            description = {"Initialize the target model from a larger trained one of the same family (weight selection): "
                    + "ViT, CifarResNet or ConvNeXt (e.g. ConvNeXt-F from ConvNeXt-T).",
                    "Stops before writing anything at the first student tensor it cannot map, naming it."})
    public static final class SelectWeights implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = "--teacher", description = "Teacher checkpoint (default: the config's 'teacher').")
        Path teacher;

        @Override
        public Integer call() throws Exception {
            Plan plan = run.plan();
            Path t = teacher != null ? teacher : plan.teacher != null ? Path.of(plan.teacher) : null;
            if (t == null) throw new IllegalArgumentException(StageId.SELECT_WEIGHTS + " needs a teacher: --teacher C or the config's 'teacher' field");
            runStage(run, StageId.SELECT_WEIGHTS, t);
            return 0;
        }
    }

    private static ModuleMethod method(String word) {
        ModuleMethod m = ModuleMethod.byCommand(word);
        if (m == null) throw new IllegalArgumentException(StageId.METHOD_OPTION + " " + word + ": choose incubate, imitate or distdata");
        return m;
    }
}
