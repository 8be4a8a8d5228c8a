package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.OpProfile;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.ops.LossesOps;
import dma.models.Architecture;
import dma.models.ImageClassifier;
import dma.models.resnet.ResNetConfig;
import dma.models.vit.ViTConfig;
import dma.trainer.optim.Optimizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.concurrent.Callable;
import java.util.function.BiFunction;

/**
 * A whole training step (forward, loss, backward, optimizer update) of a model against the same model in
 * PyTorch (bench/peers/timm_layout.py): images/s, and each process's peak resident memory.
 */
abstract class ModelStepBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    @Mixin
    ProfileOption profile;


    abstract String workload();

    abstract int batch();

    abstract Architecture architecture();

    abstract String optimizer();

    /** Extra arguments for the peer (the model's shape). */
    abstract String[] peerArgs();

    @Override
    public Integer call() {
        GemmBench.check(spec, o);
        Backend be = CpuBackend.withThreads(o.threads);
        Architecture arch = architecture();
        String[] args = concat(peerArgs(), "--batch", String.valueOf(batch()), "--reps", String.valueOf(o.reps));
        Rounds r;
        OpProfile profiled;
        try (ImageClassifier model = arch.build(be, 0);
             Optimizer opt = Optimizer.create(optimizer(), model.parameters(), 0.05, 0.9);
             Tensor x = images(be, arch, batch())) {
            model.train(true);
            Runnable step = trainingStep(model, opt, model.parameters().values(), x, labels(arch, batch()));
            r = Rounds.run(o.rounds, () -> Timing.time(step, o.reps), s -> batch() / s,
                    o.noPeer ? null : () -> Peer.run(o.threads, workload(), args), "images_per_s");
            profiled = profile.run(step, be, "dma bench " + workload(), spec.commandLine().getErr());
        }
        ObjectNode ours = Report.side("dma", r.inner(), "images_per_s", r.ours());
        ours.put("peak_rss_mb", peakRssMb());
        Peer.Outcome peer = r.peer();
        ObjectNode root = Report.start(workload(), o).put("batch", batch()).put("model", arch.toMap().toString());
        if (o.json) profile.addTo(profiled, root);
        Report.finish(root, ours, peer, String.format("%s training step (forward, loss, backward, %s), batch %d, %d threads, %d repetitions%s",
                        arch.family(), optimizer(), batch(), o.threads, o.reps,
                        o.rounds > 1 ? " in each of " + o.rounds + " rounds of ours then the peer" : ""),
                "images/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        if (!o.json) {
            spec.commandLine().getOut().printf("peak RSS: dma %.0f MB%s%n", peakRssMb(),
                    peer != null && peer.available() ? String.format(", torch %.0f MB", peer.result().path("peak_rss_mb").asDouble()) : "");
            spec.commandLine().getOut().flush();
            profile.print(profiled, spec.commandLine().getOut());
        }
        return 0;
    }

    /** A batch of standard-normal images of the shape {@code arch} reads, outside any scope. */
    static Tensor images(Backend be, Architecture arch, int batch) {
        int[] shape = arch.inputShape(batch);
        return Scope.persistent(() -> Tensor.normal(be, 1, 0f, 1f, shape));
    }

    /** Labels 0, 1, 2, … cycling through the classes. */
    static int[] labels(Architecture arch, int batch) {
        int classes = arch.numClasses();
        int[] labels = new int[batch];
        for (int i = 0; i < labels.length; i++) labels[i] = i % classes;
        return labels;
    }

    /**
     * One training step as the trainer runs it: the gradients of {@code zeroed} set to zero, forward (train mode,
     * a fresh drop-path mask each step), cross-entropy with smoothing 0.1, backward, the optimizer's update;
     * the step's temporaries freed with its scope.
     */
    static Runnable trainingStep(ImageClassifier model, Optimizer opt, Collection<Tensor> zeroed, Tensor x, int[] labels) {
        return trainingStep(model::forward, opt, zeroed, x, labels);
    }

    /** {@link #trainingStep(ImageClassifier, Optimizer, Collection, Tensor, int[])} with the logits from {@code forward(images, rng)}. */
    static Runnable trainingStep(BiFunction<Tensor, Rng, Tensor> forward, Optimizer opt, Collection<Tensor> zeroed, Tensor x, int[] labels) {
        long[] step = {0};
        return () -> {
            try (Scope s = Scope.open()) {
                OpProfile.mark("between steps");
                zeroed.forEach(Tensor::zeroGrad);
                OpProfile.mark("zero gradients");
                LossesOps.crossEntropy(forward.apply(x, new Rng(step[0]++)), labels, 0.1f).backward();
                opt.step(1e-4f);
                OpProfile.mark("optimizer step");
            }
        };
    }

    /**
     * Starts a new high-water mark for {@link #peakRssMb}: the engine's cached blocks go back to the OS and Linux's
     * VmHWM is reset to the current RSS (writing 5 to /proc/self/clear_refs), so workloads run one after another in
     * one process each report their own peak. Returns false where the kernel refuses (the mark then keeps counting).
     */
    static boolean resetPeakRss() {
        CpuBackend.emptyEveryCache();
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** This process's high-water resident set (VmHWM), in MB. */
    static double peakRssMb() {
        return procStatusMb("VmHWM");
    }

    /** A field of /proc/self/status in kB (VmRSS, VmHWM), in MB; NaN where there is none (not Linux). */
    static double procStatusMb(String field) {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith(field + ":"))
                    .mapToDouble(l -> Double.parseDouble(l.replaceAll("[^0-9]", "")) / 1024).findFirst().orElse(Double.NaN);
        } catch (IOException e) {
            return Double.NaN;
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Command(name = "vit-step", mixinStandardHelpOptions = true,
            description = "A ViT training step (28×28×1, patch 4, width 192, depth 12, 3 heads, AdamW; any depth, width, heads and patch) against PyTorch, images/s and peak RSS.")
    static final class Vit extends ModelStepBench {
        @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}).")
        int batch = 64;
        @Option(names = "--depth", description = "Blocks (default: ${DEFAULT-VALUE}).")
        int depth = 12;
        @Option(names = "--width", description = "Embedding width (default: ${DEFAULT-VALUE}).")
        int width = 192;
        @Option(names = "--heads", description = "Attention heads (default: ${DEFAULT-VALUE}).")
        int heads = 3;
        @Option(names = "--patch", description = "Patch size, a divisor of 28: 4 gives 50 tokens, 7 gives 17 (default: ${DEFAULT-VALUE}).")
        int patch = 4;

        String workload() { return "vit-step"; }
        int batch() { return batch; }
        String optimizer() { return "adamw"; }

        Architecture architecture() {
            return config(width, depth, heads, patch);
        }

        /** DESIGN §5's ViT (28×28×1, patch 4, 10 classes, MLP ×4, drop path 0.1) at the given size. */
        static ViTConfig config(int width, int depth, int heads) {
            return config(width, depth, heads, 4);
        }

        /** {@link #config(int, int, int)} with another patch size (a divisor of 28). */
        static ViTConfig config(int width, int depth, int heads, int patch) {
            if (patch < 1 || 28 % patch != 0) throw new IllegalArgumentException("--patch must divide 28, got " + patch);
            return new ViTConfig(28, patch, 1, 10, width, depth, heads, 4, 0.1);
        }

        String[] peerArgs() {
            return new String[]{"--depth", String.valueOf(depth), "--width", String.valueOf(width), "--heads", String.valueOf(heads),
                    "--patch", String.valueOf(patch)};
        }
    }

    @Command(name = "resnet-step", mixinStandardHelpOptions = true,
            description = "A CifarResNet training step (32×32×3, SGD momentum) against PyTorch, images/s and peak RSS.")
    static final class ResNet extends ModelStepBench {
        @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}).")
        int batch = 128;
        @Option(names = "--depth", description = "ResNet depth 6n+2 (default: ${DEFAULT-VALUE}).")
        int depth = 110;

        String workload() { return "resnet-step"; }
        int batch() { return batch; }
        String optimizer() { return "sgd"; }

        Architecture architecture() {
            return ResNetConfig.cifar(depth, 3, 10);
        }

        String[] peerArgs() {
            return new String[]{"--depth", String.valueOf(depth)};
        }
    }
}
