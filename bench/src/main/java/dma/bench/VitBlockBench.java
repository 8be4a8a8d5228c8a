package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.Arrays;
import java.util.concurrent.Callable;

/** {@code dma bench vit-block}: one pre-norm ViT block, forward + backward, against the same block in PyTorch, in images/s. */
@Command(name = "vit-block", mixinStandardHelpOptions = true,
        description = "One pre-norm ViT block forward + backward (of the sum of outputs) against PyTorch, images/s.")
public final class VitBlockBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BenchOptions o;

    @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batch = 64;
    @Option(names = "--tokens", description = "Tokens per image (default: ${DEFAULT-VALUE}: 7×7 patches + class token).")
    int tokens = 50;
    @Option(names = "--width", description = "Embedding width (default: ${DEFAULT-VALUE}).")
    int width = 192;
    @Option(names = "--heads", description = "Attention heads (default: ${DEFAULT-VALUE}).")
    int heads = 3;

    @Override
    public Integer call() {
        GemmBench.check(spec, o);
        GemmBench.requireOneRound(spec, o);
        if (batch < 1 || tokens < 1 || heads < 1 || width < 1 || width % heads != 0)
            throw new ParameterException(spec.commandLine(), "need positive --batch, --tokens, --heads and --width, with width a multiple of heads");
        CpuBackend be = CpuBackend.withThreads(o.threads);
        Timing.Result t;
        try (VitBlock block = new VitBlock(be, 0, width, heads);
             Tensor x = Tensor.normal(be, 1, 0f, 1f, batch, tokens, width).requiresGrad(true)) {
            t = Timing.time(() -> block.step(x), o.reps);
        }
        ObjectNode ours = Report.side("dma", t.inner(), "images_per_s", Arrays.stream(t.seconds()).map(s -> batch / s).toArray());
        Arrays.stream(t.seconds()).forEach(ours.putArray("seconds")::add);
        Peer.Outcome peer = o.noPeer ? null : Peer.run(o.threads, "vit-block", "--batch", String.valueOf(batch), "--tokens",
                String.valueOf(tokens), "--width", String.valueOf(width), "--heads", String.valueOf(heads), "--reps", String.valueOf(o.reps));
        ObjectNode root = Report.start("vit-block", o).put("batch", batch).put("tokens", tokens).put("width", width).put("heads", heads);
        Report.finish(root, ours, peer,
                String.format("ViT block forward+backward, batch %d × %d tokens, width %d, %d heads, %d threads, %d repetitions",
                        batch, tokens, width, heads, o.threads, o.reps),
                "images/s", spec.commandLine().getOut(), spec.commandLine().getErr(), o.json);
        return 0;
    }
}
