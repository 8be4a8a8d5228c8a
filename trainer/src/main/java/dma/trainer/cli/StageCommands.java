package dma.trainer.cli;

import dma.trainer.config.Plan;
import dma.trainer.report.Summary;
import dma.trainer.stage.Attempt;
import dma.trainer.stage.Pipeline;
import dma.trainer.stage.Stages;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** One command per stage; each reads and writes the run directory, so they compose across processes and machines. */
public final class StageCommands {
    private StageCommands() {}

    /** A stage's work on the run's stages. */
    @FunctionalInterface
    interface StageCall {
        Summary.StageResult run(Stages stages) throws java.io.IOException;
    }

    /**
     * Runs one stage unless it has finished (its output and result.json exist: then it is skipped without reading the
     * data, so a resubmitted job redoes only what is missing), recording the attempt for {@code dma status}.
     * {@code stages} is called only when the stage has to run.
     */
    static void runStage(Path runDir, String name, java.util.function.Supplier<Stages> stages, StageCall call) {
        Summary.StageResult done = Stages.finished(runDir, name);
        if (done != null) {
            System.err.println(name + ": finished earlier, skipped (" + runDir.resolve(name) + ")");
            print(done);
            return;
        }
        Stages s = stages.get();
        print(Attempt.run(runDir, name, () -> call.run(s)));
    }

    private static void print(Summary.StageResult r) {
        System.out.printf("%s: accuracy %.2f%%, %.1f s, %.3g FLOPs%n", r.name(), 100 * (r.accuracy() == null ? Double.NaN : r.accuracy()),
                r.wallSeconds(), (double) r.totalFlops());
    }

    @Command(name = "meta", mixinStandardHelpOptions = true, description = "Train the meta model (one block per module) end to end.")
    public static final class Meta implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Override
        public Integer call() throws Exception {
            runStage(run.runDir, "meta", () -> run.stages(run.plan()), Stages::meta);
            return 0;
        }
    }

    @Command(name = "e2e", mixinStandardHelpOptions = true, description = "Train the target model end to end (the E2E baseline).")
    public static final class E2e implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = "--init", description = "Start from this checkpoint (e.g. the output of select-weights) instead of random weights.")
        Path init;

        @Override
        public Integer call() throws Exception {
            String name = init == null ? "e2e" : "e2e-init";
            runStage(run.runDir, name, () -> run.stages(run.plan()), s -> s.e2e(name, init));
            return 0;
        }
    }

    /** incubate / imitate / distdata: one module (--module i), or all K in turn. */
    abstract static class ModuleStage implements Callable<Integer> {
        @Mixin RunOptions run;

        @Option(names = "--module", description = "The module to train, 0..K-1 (default: all, one after another).")
        Integer module;

        abstract String kind();

        @Override
        public Integer call() throws Exception {
            Plan plan = run.plan();
            int k = plan.partition.modules();
            if (module != null && (module < 0 || module >= k))
                throw new IllegalArgumentException("--module " + module + ": modules are 0.." + (k - 1) + " (" + plan.partition + ")");
            Stages[] stages = new Stages[1]; // read the data once, and only if some module has to run
            for (int i = 0; i < k; i++) {
                if (module != null && module != i) continue;
                int m = i;
                runStage(run.runDir, kind() + "-" + i, () -> stages[0] != null ? stages[0] : (stages[0] = run.stagesFor(plan, kind(), module)),
                        s -> s.module(kind(), m));
            }
            return 0;
        }
    }

    @Command(name = "incubate", mixinStandardHelpOptions = true, description = "Incubate module i inside the frozen meta model (task loss).")
    public static final class Incubate extends ModuleStage implements Subcommand {
        String kind() { return "incubate"; }
    }

    @Command(name = "imitate", mixinStandardHelpOptions = true, description = "Module Imitation baseline: train module i to match the meta block's features (L1).")
    public static final class Imitate extends ModuleStage implements Subcommand {
        String kind() { return "imitate"; }
    }

    @Command(name = "distdata", mixinStandardHelpOptions = true, description = "DistData baseline: incubate module i on its own 1/K share of the data.")
    public static final class DistData extends ModuleStage implements Subcommand {
        String kind() { return "distdata"; }
    }

    @Command(name = "assemble", mixinStandardHelpOptions = true, description = "Assemble the K module checkpoints into the target model.")
    public static final class Assemble implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = "--method", description = "Which modules: incubate, imitate or distdata (default: ${DEFAULT-VALUE}).")
        String method = "incubate";

        @Override
        public Integer call() throws Exception {
            checkMethod(method);
            runStage(run.runDir, Pipeline.assembleStage(method), () -> run.stages(run.plan()), s -> s.assemble(method));
            return 0;
        }
    }

    @Command(name = "finetune", mixinStandardHelpOptions = true, description = "Fine-tune the assembled model end to end.")
    public static final class Finetune implements Callable<Integer>, Subcommand {
        @Mixin RunOptions run;

        @Option(names = "--method", description = "Which assembly: incubate, imitate or distdata (default: ${DEFAULT-VALUE}).")
        String method = "incubate";

        @Override
        public Integer call() throws Exception {
            checkMethod(method);
            runStage(run.runDir, Pipeline.finetuneStage(method), () -> run.stages(run.plan()), s -> s.finetune(method));
            return 0;
        }
    }

    @Command(name = "select-weights", mixinStandardHelpOptions = true,
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
            if (t == null) throw new IllegalArgumentException("select-weights needs a teacher: --teacher C or the config's 'teacher' field");
            runStage(run.runDir, "select-weights", () -> run.stages(plan), s -> s.selectWeights(t));
            return 0;
        }
    }

    private static void checkMethod(String m) {
        if (!List.of("incubate", "imitate", "distdata").contains(m))
            throw new IllegalArgumentException("--method " + m + ": choose incubate, imitate or distdata");
    }
}
