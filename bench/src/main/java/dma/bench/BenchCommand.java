package dma.bench;

import dma.trainer.cli.Subcommand;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code dma bench}: our workloads timed against the PyTorch peer in the same run, on the CPU or (gemm, deit-step) the GPU. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time workloads against PyTorch (bench/peers/torch_bench.py) in the same run: on the CPU backend, or on the GPU "
                + "(gemm and deit-step with --backend cuda); single ops under JMH (ops), and how the training step's cost grows (cost-growth).",
        subcommands = {GemmBench.class, VitBlockBench.class, ModelStepBench.Vit.class, ModelStepBench.ResNet.class, DeitStepBench.class,
                OpsBench.class, CostGrowthBench.class, SideBySideBench.class, AbBench.class, MemoryBench.class})
public final class BenchCommand implements Subcommand, Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
