package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.cpu.Parallel;
import dma.engine.ops.Linalg;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.Arrays;
import java.util.concurrent.Callable;

/** {@code dma bench gemm}: float32 n×n·n×n on the CPU backend against torch.matmul, in GFLOP/s. */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "sgemm n×n·n×n (Linalg.matmul on the CPU backend) against torch.matmul, GFLOP/s.")
public final class GemmBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    @Option(names = "--size", description = "Matrix size n (default: ${DEFAULT-VALUE}).")
    int size = 1024;

    @Override
    public Integer call() {
        check(spec, o);
        if (size < 1) throw new ParameterException(spec.commandLine(), "--size must be positive, got " + size);
        Parallel.setThreads(o.threads);
        double flops = 2.0 * size * size * size;
        Timing.Result t;
        // operands outside the timed region (and outside any scope); each call's output dies with its scope
        try (Tensor a = Tensor.uniform(CpuBackend.get(), 1, -1f, 1f, size, size);
             Tensor b = Tensor.uniform(CpuBackend.get(), 2, -1f, 1f, size, size)) {
            t = Timing.time(() -> {
                try (GradMode g = GradMode.disabled(); Scope s = Scope.open()) {
                    Linalg.matmul(a, b);
                }
            }, o.reps);
        }
        ObjectNode ours = Report.side("dma", t.inner(), "gflops", Arrays.stream(t.seconds()).map(s -> flops / s / 1e9).toArray());
        Peer.Outcome peer = o.noPeer ? null : Peer.run(o.threads, "gemm", "--size", String.valueOf(size), "--reps", String.valueOf(o.reps));
        ObjectNode root = Report.start("gemm", o).put("size", size);
        Report.finish(root, ours, peer,
                String.format("sgemm %d×%d·%d×%d float32, %d threads, %d repetitions", size, size, size, size, o.threads, o.reps),
                "GFLOP/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        return 0;
    }

    static void check(CommandSpec spec, BenchOptions o) {
        if (o.reps < BenchOptions.MIN_REPS)
            throw new ParameterException(spec.commandLine(), "--reps must be at least " + BenchOptions.MIN_REPS + " (got " + o.reps + "): a median of fewer is noise here");
        if (o.threads < 1) throw new ParameterException(spec.commandLine(), "--threads must be at least 1, got " + o.threads);
    }
}
