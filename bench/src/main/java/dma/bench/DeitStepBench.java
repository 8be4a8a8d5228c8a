package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Autocast;
import dma.engine.Backend;
import dma.engine.OpProfile;
import dma.engine.Backends;
import dma.engine.CounterRng;
import dma.engine.Flops;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cuda.CudaBackend;
import dma.engine.ops.LossesOps;
import dma.models.ImageClassifier;
import dma.models.vit.ViTConfig;
import dma.trainer.optim.Optimizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code dma bench deit-step}: one DeiT-S/16 training step at 224² (forward, label-smoothed cross-entropy, backward,
 * AdamW) against PyTorch eager + timm on the same machine, in images/s, with MFU: the step's matrix-product FLOPs
 * per second over the measured bf16 GEMM ceiling (the peer's 8192³ bf16 torch.matmul unless --ceiling-tflops).
 */
@Command(name = "deit-step", mixinStandardHelpOptions = true,
        description = {"A DeiT-S/16 224² training step (width 384, 6 heads, AdamW) against PyTorch + timm (timm.create_model('deit_small_patch16_224'))"
                + " in the same run: images/s, and MFU against the measured bf16 GEMM ceiling. --bf16 runs both sides under bf16 autocast."})
final class DeitStepBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    @Mixin
    ProfileOption profile;

    @Option(names = "--backend", description = "cuda or cpu (default: ${DEFAULT-VALUE}).")
    String backend = "cuda";

    @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batch = 128;

    @Option(names = "--depth", description = "Blocks (default: ${DEFAULT-VALUE}, DeiT-S).")
    int depth = 12;

    @Option(names = "--drop-path", description = "Drop-path rate, linspace(0, p, depth) as in DeiT (default: ${DEFAULT-VALUE}).")
    double dropPath = 0.1;

    @Option(names = "--bf16", description = "bf16 mixed precision: our step inside Autocast.bf16(), the peer's inside torch.autocast(bfloat16).")
    boolean bf16;

    @Option(names = "--ceiling-tflops", paramLabel = "TFLOPS",
            description = "The bf16 GEMM ceiling for MFU, in TFLOP/s (default: measured by the peer, 8192³ bf16 torch.matmul).")
    Double ceilingTflops;

    @Override
    public Integer call() {
        GemmBench.check(spec, o);
        GemmBench.requireOneRound(spec, o);
        String b = GemmBench.backend(spec, backend);
        if (batch < 1) throw new ParameterException(spec.commandLine(), "--batch must be at least 1, got " + batch);
        if (depth < 1) throw new ParameterException(spec.commandLine(), "--depth must be at least 1, got " + depth);
        if (dropPath < 0 || dropPath >= 1) throw new ParameterException(spec.commandLine(), "--drop-path must be in [0, 1), got " + dropPath);
        if (ceilingTflops != null && !(ceilingTflops > 0)) throw new ParameterException(spec.commandLine(), "--ceiling-tflops must be positive");
        // Opened before anything runs: without a GPU, --backend cuda stops here with the reason.
        Backend be = Backends.get(b, o.threads);
        ViTConfig arch = ViTConfig.preset("deit_small_patch16_224").withDepth(depth).withDropPath(dropPath);
        double flopsPerStep = trainingFlopsPerImage(arch) * batch;

        ObjectNode ours;
        OpProfile profiled = null;
        long issued = -1;
        double peakMb = Double.NaN;
        try {
            int[] labels = new int[batch];
            for (int i = 0; i < batch; i++) labels[i] = i % arch.numClasses();
            try (ImageClassifier model = arch.build(be, 0);
                 Optimizer opt = Optimizer.create("adamw", model.parameters(), 0.05, 0.9);
                 Tensor x = Scope.persistent(() -> Tensor.of(be, hostNormal(batch * 3 * 224 * 224, 3), batch, 3, 224, 224))) {
                model.train(true);
                long[] step = {0};
                Runnable call = () -> {
                    try (Autocast.Region r = bf16 ? Autocast.bf16() : null; Scope s = Scope.open()) {
                        OpProfile.mark("between steps");
                        opt.zeroGrad();
                        OpProfile.mark("zero gradients");
                        LossesOps.crossEntropy(model.forward(x, new Rng(step[0]++)), labels, 0.1f).backward();
                        opt.step(1e-4f);
                        OpProfile.mark("optimizer step");
                    }
                };
                Flops.Count before = Flops.now();
                call.run();
                be.synchronize();
                issued = Flops.now().minus(before).total();
                be.memory().resetPeak();
                Timing.Result t = Timing.time(call, o.reps, be::synchronize);
                ours = Report.side("dma", t.inner(), "images_per_s", Arrays.stream(t.seconds()).map(s -> batch / s).toArray());
                peakMb = b.equals("cuda") ? be.memory().peakBytes() / 1048576.0 : ModelStepBench.peakRssMb();
                profiled = profile.run(call, be, "dma bench deit-step", spec.commandLine().getErr());
            }
        } catch (RuntimeException e) {
            // a backend that cannot run some op of the step yet: reported, and the peer still measured
            ours = Report.unavailable("dma", e.getClass().getSimpleName() + ": " + e.getMessage());
            spec.commandLine().getErr().println("dma bench deit-step: our step failed: " + e);
        }

        Peer.Outcome peer = null;
        if (!o.noPeer) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--device", b, "--batch", String.valueOf(batch),
                    "--depth", String.valueOf(depth), "--drop-path", String.valueOf(dropPath), "--reps", String.valueOf(o.reps)));
            if (bf16) args.add("--bf16");
            if (b.equals("cuda") && ceilingTflops == null) args.add("--ceiling");
            peer = Peer.run(o.threads, "deit-step", args.toArray(String[]::new));
        }

        Double ceiling = ceilingTflops;
        String ceilingFrom = "--ceiling-tflops";
        if (ceiling == null && peer != null && peer.available() && peer.result().has("bf16_gemm_tflops")) {
            ceiling = peer.result().get("bf16_gemm_tflops").asDouble();
            ceilingFrom = "peer: 8192³ bf16 torch.matmul";
        }
        ObjectNode root = Report.start("deit-step", o).put("backend", b).put("batch", batch).put("depth", depth).put("bf16", bf16)
                .put("model", arch.toMap().toString()).put("model_flops_per_step", flopsPerStep);
        if (be instanceof CudaBackend cb) root.put("device", cb.describe());
        if (issued >= 0) root.put("issued_flops_per_step", issued);
        if (ceiling != null) root.put("bf16_gemm_ceiling_tflops", ceiling).put("ceiling_from", ceilingFrom);
        else root.putNull("bf16_gemm_ceiling_tflops");
        if (Report.measured(ours)) {
            ours.put(b.equals("cuda") ? "peak_device_mb" : "peak_rss_mb", peakMb);
            if (ceiling != null) ours.put("mfu", mfu(ours.get("median").asDouble(), flopsPerStep, ceiling));
        }
        if (peer != null && peer.available() && ceiling != null)
            peer.result().put("mfu", mfu(peer.result().get("median").asDouble(), flopsPerStep, ceiling));

        String title = String.format("DeiT-S/16 224² training step (depth %d, AdamW%s), batch %d on %s, %d repetitions", depth,
                bf16 ? ", bf16 autocast" : ", float32", batch, be instanceof CudaBackend cb ? cb.describe() : "cpu, " + o.threads + " threads", o.reps);
        PrintWriter out = spec.commandLine().getOut();
        if (o.json) profile.addTo(profiled, root);
        Report.finish(root, ours, peer, title, "images/s", out, spec.commandLine().getErr(), o.json);
        if (!o.json) {
            out.printf("model FLOPs per step (matrix products, forward + backward): %.1f GFLOP%s%n", flopsPerStep / 1e9,
                    issued >= 0 ? String.format("; issued by ours: %.1f GFLOP", issued / 1e9) : "");
            if (ceiling == null) out.println("MFU: no bf16 GEMM ceiling (run the peer on a GPU, or pass --ceiling-tflops)");
            else out.printf("MFU against %.0f TFLOP/s (%s): dma %s, torch %s%n", ceiling, ceilingFrom,
                    Report.measured(ours) ? String.format("%.1f%%", 100 * ours.get("mfu").asDouble()) : "n/a",
                    peer != null && peer.available() ? String.format("%.1f%%", 100 * peer.result().get("mfu").asDouble()) : "n/a");
            out.flush();
            profile.print(profiled, out);
        }
        return Report.measured(ours) ? 0 : 1;
    }

    /** Model FLOPs per second over the ceiling. */
    private double mfu(double imagesPerS, double flopsPerStep, double ceilingTflops) {
        return imagesPerS / batch * flopsPerStep / (ceilingTflops * 1e12);
    }

    /**
     * The matrix-product FLOPs of one training step per image (2·m·n·k per product, what {@link Flops} counts as it is
     * issued): the forward products, and in backward the input and the weight gradient of each (twice the forward),
     * except the patch projection's input gradient (the images need none). Elementwise work is left out, as usual for MFU.
     */
    static double trainingFlopsPerImage(ViTConfig c) {
        double patches = Math.pow(c.imgSize() / c.patchSize(), 2), tokens = patches + 1, d = c.embedDim(), hidden = c.mlpRatio() * d;
        double embed = 2 * patches * c.inChans() * c.patchSize() * c.patchSize() * d;
        double block = 2 * tokens * d * 3 * d      // qkv
                + 2 * 2 * tokens * tokens * d      // q·kᵀ and p·v, all heads together
                + 2 * tokens * d * d               // proj
                + 2 * 2 * tokens * d * hidden;     // fc1, fc2
        double head = 2 * d * c.numClasses();     // the class token only
        return 2 * embed + 3 * (c.depth() * block + head);
    }

    /** Standard normal values made on the host (the batch is uploaded once, outside the timed region). */
    static float[] hostNormal(int n, long seed) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) CounterRng.normal(seed, i);
        return v;
    }
}
