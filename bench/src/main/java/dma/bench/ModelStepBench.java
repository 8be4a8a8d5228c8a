package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.cpu.Parallel;
import dma.engine.ops.Loss;
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
import java.util.concurrent.Callable;

/**
 * A whole training step (forward, loss, backward, optimizer update) of a model against the same model in
 * PyTorch (bench/peers/timm_layout.py): images/s, and each process's peak resident memory.
 */
abstract class ModelStepBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    abstract String workload();

    abstract int batch();

    abstract Architecture architecture();

    abstract String optimizer();

    /** Extra arguments for the peer (the model's shape). */
    abstract String[] peerArgs();

    @Override
    public Integer call() {
        GemmBench.check(spec, o);
        Parallel.setThreads(o.threads);
        Backend be = CpuBackend.get();
        Architecture arch = architecture();
        int[] shape = arch instanceof ViTConfig v ? new int[]{batch(), v.inChans(), v.imgSize(), v.imgSize()} : new int[]{batch(), 3, 32, 32};
        int classes = arch instanceof ViTConfig v ? v.numClasses() : ((ResNetConfig) arch).numClasses();
        int[] labels = new int[batch()];
        for (int i = 0; i < labels.length; i++) labels[i] = i % classes;
        Timing.Result t;
        try (ImageClassifier model = arch.build(be, 0);
             Optimizer opt = Optimizer.create(optimizer(), model.parameters(), 0.05, 0.9);
             Tensor x = Scope.persistent(() -> Tensor.normal(be, 1, 0f, 1f, shape))) {
            model.train(true);
            long[] step = {0};
            t = Timing.time(() -> {
                try (Scope s = Scope.open()) {
                    opt.zeroGrad();
                    Loss.crossEntropy(model.forward(x, new Rng(step[0]++)), labels, 0.1f).backward();
                    opt.step(1e-4f);
                }
            }, o.reps);
        }
        ObjectNode ours = Report.side("dma", t.inner(), "images_per_s", Arrays.stream(t.seconds()).map(s -> batch() / s).toArray());
        ours.put("peak_rss_mb", peakRssMb());
        String[] args = concat(peerArgs(), "--batch", String.valueOf(batch()), "--reps", String.valueOf(o.reps));
        Peer.Outcome peer = o.noPeer ? null : Peer.run(o.threads, workload(), args);
        ObjectNode root = Report.start(workload(), o).put("batch", batch()).put("model", arch.toMap().toString());
        Report.finish(root, ours, peer, String.format("%s training step (forward, loss, backward, %s), batch %d, %d threads, %d repetitions",
                        arch.family(), optimizer(), batch(), o.threads, o.reps),
                "images/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        if (!o.json) {
            spec.commandLine().getOut().printf("peak RSS: dma %.0f MB%s%n", peakRssMb(),
                    peer != null && peer.available() ? String.format(", torch %.0f MB", peer.result().path("peak_rss_mb").asDouble()) : "");
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    /** This process's high-water resident set (VmHWM), in MB. */
    static double peakRssMb() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmHWM:"))
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
            description = "A ViT training step (28×28×1, patch 4, width 192, depth 12, 3 heads, AdamW) against PyTorch, images/s and peak RSS.")
    static final class Vit extends ModelStepBench {
        @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}).")
        int batch = 64;
        @Option(names = "--depth", description = "Blocks (default: ${DEFAULT-VALUE}).")
        int depth = 12;
        @Option(names = "--width", description = "Embedding width (default: ${DEFAULT-VALUE}).")
        int width = 192;
        @Option(names = "--heads", description = "Attention heads (default: ${DEFAULT-VALUE}).")
        int heads = 3;

        String workload() { return "vit-step"; }
        int batch() { return batch; }
        String optimizer() { return "adamw"; }

        Architecture architecture() {
            return new ViTConfig(28, 4, 1, 10, width, depth, heads, 4, 0.1);
        }

        String[] peerArgs() {
            return new String[]{"--depth", String.valueOf(depth), "--width", String.valueOf(width), "--heads", String.valueOf(heads)};
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
