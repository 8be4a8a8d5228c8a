package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** Logits of a checkpoint on given inputs, written as safetensors so any outside tool can compare. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Run a checkpoint (ours, or timm/PyTorch-written) in eval mode on the tensor 'input' of a safetensors file and write its logits.")
public final class EvalCommand implements Callable<Integer>, Subcommand {
    @Option(names = "--checkpoint", required = true, description = "Model checkpoint (.safetensors, timm names).")
    Path checkpoint;

    @Option(names = "--inputs", required = true, description = "Safetensors file holding 'input' [N, C, H, W].")
    Path inputs;

    @Option(names = "--logits-out", required = true, description = "Where to write 'logits' [N, classes].")
    Path logitsOut;

    @Option(names = "--heads", description = "Attention heads, for a ViT checkpoint without our metadata.")
    Integer heads;

    @Option(names = dma.trainer.stage.RunArgs.BACKEND, description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    @Option(names = "--batch", description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = 256;

    @Override
    public Integer call() {
        Backend be = Backends.get(backend);
        var in = Safetensors.read(inputs).tensors().get("input");
        if (in == null) throw new IllegalArgumentException(inputs + ": no tensor named 'input'");
        if (in.shape().length != 4) throw new IllegalArgumentException(inputs + ": 'input' must be [N, C, H, W], got " + java.util.Arrays.toString(in.shape()));
        Checkpoint.Loaded loaded = Checkpoint.load(checkpoint, be, heads);
        try (ImageClassifier model = loaded.model(); Tensor x = TensorFiles.fromHost(be, in); GradMode off = GradMode.disabled()) {
            model.train(false);
            int n = x.dim(0);
            float[] all = null;
            int classes = 0;
            for (int start = 0; start < n; start += batch) {
                int len = Math.min(batch, n - start);
                try (Scope s = Scope.open()) {
                    float[] logits = model.forward(dma.engine.ops.LayoutOps.slice(x, 0, start, len), null).toFloats();
                    if (all == null) {
                        classes = logits.length / len;
                        all = new float[n * classes];
                    }
                    System.arraycopy(logits, 0, all, start * classes, logits.length);
                }
            }
            float[] values = all;
            int c = classes;
            try (Tensor t = Scope.persistent(() -> Tensor.of(be, values, n, c))) {
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("logits", t);
                TensorFiles.save(logitsOut, out, Map.of("checkpoint", checkpoint.toString()));
            }
            System.out.printf("eval: %s (%s) on %d inputs → %s%n", checkpoint, loaded.architecture().family(), n, logitsOut);
        }
        return 0;
    }
}
