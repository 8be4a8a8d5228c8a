package dma.bench;

import dma.trainer.cli.Subcommand;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code dma bench}: our CPU ops timed against the PyTorch peer in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time workloads on the CPU backend against PyTorch (bench/peers/torch_bench.py) in the same run, "
                + "single ops under JMH (ops), and how the training step's cost grows (cost-growth).",
        subcommands = {GemmBench.class, VitBlockBench.class, ModelStepBench.Vit.class, ModelStepBench.ResNet.class,
                OpsBench.class, CostGrowthBench.class})
public final class BenchCommand implements Subcommand, Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
