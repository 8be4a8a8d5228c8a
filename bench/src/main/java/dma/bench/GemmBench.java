package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.CounterRng;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.cuda.CudaBackend;
import dma.engine.ops.BlasOps;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code dma bench gemm}: n×n·n×n through BlasOps.matmul against torch.matmul in the same run: float32 on the CPU
 * backend in GFLOP/s, or on the GPU ({@code --backend cuda}) in TFLOP/s, float32 or bf16.
 */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = {"n×n·n×n matrix product (BlasOps.matmul) against torch.matmul on random data: sgemm on the CPU backend in GFLOP/s,"
                + " or on the GPU with --backend cuda in TFLOP/s (--dtype fp32, or bf16: the ceiling that MFU is measured against)."})
public final class GemmBench implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    @Option(names = "--size", description = "Matrix size n (default: 1024 on cpu, 8192 on cuda).")
    Integer size;

    @Option(names = "--backend", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    @Option(names = "--dtype", description = "fp32, or bf16 (cuda only) (default: ${DEFAULT-VALUE}).")
    String dtype = "fp32";

    @Override
    public Integer call() {
        check(spec, o);
        boolean cuda = backend(spec, backend).equals("cuda");
        if (!dtype.equals("fp32") && !dtype.equals("bf16"))
            throw new ParameterException(spec.commandLine(), "--dtype must be fp32 or bf16, got '" + dtype + "'");
        if (dtype.equals("bf16") && !cuda)
            throw new ParameterException(spec.commandLine(), "--dtype bf16 is measured on the GPU only: add --backend cuda");
        int n = size != null ? size : cuda ? 8192 : 1024;
        if (n < 1 || (long) n * n > Integer.MAX_VALUE)
            throw new ParameterException(spec.commandLine(), "--size must be between 1 and 46340, got " + n);
        return cuda ? onGpu(n) : onCpu(n);
    }

    private int onCpu(int n) {
        Backend be = CpuBackend.withThreads(o.threads);
        double flops = 2.0 * n * n * n;
        Rounds r;
        // operands outside the timed region (and outside any scope); each call's output dies with its scope
        try (Tensor a = Tensor.uniform(be, 1, -1f, 1f, n, n);
             Tensor b = Tensor.uniform(be, 2, -1f, 1f, n, n)) {
            r = Rounds.run(o.rounds, () -> Timing.time(() -> {
                try (GradMode g = GradMode.disabled(); Scope s = Scope.open()) {
                    BlasOps.matmul(a, b);
                }
            }, o.reps), s -> flops / s / 1e9, o.noPeer ? null
                    : () -> Peer.run(o.threads, "gemm", "--size", String.valueOf(n), "--reps", String.valueOf(o.reps)), "gflops");
        }
        ObjectNode ours = Report.side("dma", r.inner(), "gflops", r.ours());
        Peer.Outcome peer = r.peer();
        ObjectNode root = Report.start("gemm", o).put("size", n);
        Report.finish(root, ours, peer,
                String.format("sgemm %d×%d·%d×%d float32, %d threads, %d repetitions%s", n, n, n, n, o.threads, o.reps,
                        o.rounds > 1 ? " in each of " + o.rounds + " rounds of ours then the peer" : ""),
                "GFLOP/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        return 0;
    }

    private int onGpu(int n) {
        requireOneRound(spec, o);
        // Opening the backend first: without a GPU this fails here, saying why, before any peer runs.
        Backend be = Backends.get("cuda");
        double flops = 2.0 * n * n * n;
        ObjectNode ours;
        try (Tensor a = Tensor.of(be, hostUniform(n * n, 1), n, n); Tensor b = Tensor.of(be, hostUniform(n * n, 2), n, n);
             Tensor c = Tensor.empty(be, n, n)) {
            Runnable product;
            Tensor a16 = null, b16 = null;
            if (dtype.equals("bf16")) { // bf16 operands made once, outside the timed region, as the peer's are
                a16 = Tensor.empty(be, dma.engine.DType.BF16, n, n);
                b16 = Tensor.empty(be, dma.engine.DType.BF16, n, n);
                be.elementwise().castToBf16(a.storage(), a16.storage(), n * n);
                be.elementwise().castToBf16(b.storage(), b16.storage(), n * n);
                Tensor x = a16, y = b16;
                product = () -> be.blas().gemmBf16(false, false, n, n, n, 1f, x.storage(), 0, n, y.storage(), 0, n, 0f, c.storage(), 0, n);
            } else {
                product = () -> be.blas().gemm(false, false, n, n, n, 1f, a.storage(), 0, n, b.storage(), 0, n, 0f, c.storage(), 0, n);
            }
            try {
                Timing.Result t = Timing.time(product, o.reps, be::synchronize);
                ours = Report.side("dma", t.inner(), "tflops", Arrays.stream(t.seconds()).map(s -> flops / s / 1e12).toArray());
            } finally {
                if (a16 != null) a16.close();
                if (b16 != null) b16.close();
            }
        } catch (RuntimeException e) {
            ours = Report.unavailable("dma", String.valueOf(e.getMessage()));
        }
        Peer.Outcome peer = o.noPeer ? null
                : Peer.run(o.threads, "gemm", "--device", "cuda", "--size", String.valueOf(n), "--dtype", dtype, "--reps", String.valueOf(o.reps));
        String device = ((CudaBackend) be).describe();
        ObjectNode root = Report.start("gemm", o).put("size", n).put("backend", "cuda").put("dtype", dtype).put("device", device);
        Report.finish(root, ours, peer, String.format("GEMM %d×%d·%d×%d %s on %s, %d repetitions", n, n, n, n, dtype, device, o.reps),
                "TFLOP/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        return Report.measured(ours) ? 0 : 1;
    }

    /** Uniform values in [-1, 1) made on the host (they are uploaded once, outside the timed region). */
    static float[] hostUniform(int n, long seed) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = 2 * CounterRng.uniform(seed, i) - 1;
        return v;
    }

    /** The backend named by --backend, lower-cased: cpu or cuda. */
    static String backend(CommandSpec spec, String name) {
        String b = name.toLowerCase(java.util.Locale.ROOT);
        if (!b.equals("cpu") && !b.equals("cuda"))
            throw new ParameterException(spec.commandLine(), "--backend must be cpu or cuda, got '" + name + "'");
        return b;
    }

    static void check(CommandSpec spec, BenchOptions o) {
        if (o.reps < BenchOptions.MIN_REPS)
            throw new ParameterException(spec.commandLine(), "--reps must be at least " + BenchOptions.MIN_REPS + " (got " + o.reps + "): a median of fewer is noise here");
        if (o.threads < 1) throw new ParameterException(spec.commandLine(), "--threads must be at least 1, got " + o.threads);
        if (o.rounds < 1) throw new ParameterException(spec.commandLine(), "--rounds must be at least 1, got " + o.rounds);
    }

    /** For workloads that time a single round (the GPU ones, vit-block): refuses --rounds above 1 rather than ignore it. */
    static void requireOneRound(CommandSpec spec, BenchOptions o) {
        if (o.rounds != 1)
            throw new ParameterException(spec.commandLine(), spec.name() + " runs one round of ours then the peer: --rounds " + o.rounds + " is not supported");
    }
}
