package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.GradMode;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.cpu.Parallel;
import dma.engine.ops.Elementwise;
import dma.engine.ops.Linalg;
import dma.engine.ops.Loss;
import dma.engine.ops.Update;
import dma.trainer.data.FashionMnist;
import dma.trainer.ui.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * A first end-to-end run of the engine: a two-layer perceptron on Fashion-MNIST with AdamW, on the CPU
 * backend. It stands in for the pipeline until the trainer's stages exist.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Train a small MLP on Fashion-MNIST with the CPU engine and print a summary.")
public final class DemoCommand implements Callable<Integer>, Subcommand {
    @Option(names = "--data", description = "Directory of Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).")
    Path data = FashionMnist.DEBIAN_DIR;

    @Option(names = "--epochs", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs = 2;

    @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 128;

    @Option(names = "--hidden", description = "Hidden width (default: ${DEFAULT-VALUE}).")
    int hidden = 256;

    @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    float lr = 1e-3f;

    @Option(names = "--train-limit", description = "Use only the first N training images (default: all).")
    int trainLimit = Integer.MAX_VALUE;

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--seed", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Override
    public Integer call() {
        if (threads != null) Parallel.setThreads(threads);
        Backend be = CpuBackend.get();
        FashionMnist.Split train = FashionMnist.load(data, true), test = FashionMnist.load(data, false);
        int n = Math.min(train.count(), trainLimit), pixels = train.height() * train.width();
        Rng rng = new Rng(seed);
        float bound1 = (float) (1 / Math.sqrt(pixels)), bound2 = (float) (1 / Math.sqrt(hidden));
        List<Tensor> params = new ArrayList<>(List.of(
                Tensor.uniform(be, rng.nextSeed(), -bound1, bound1, hidden, pixels), Tensor.zeros(be, hidden),
                Tensor.uniform(be, rng.nextSeed(), -bound2, bound2, 10, hidden), Tensor.zeros(be, 10)));
        List<Tensor> moments = new ArrayList<>();
        for (Tensor p : params) {
            p.requiresGrad(true);
            moments.add(Tensor.zeros(be, p.shape()));
            moments.add(Tensor.zeros(be, p.shape()));
        }
        System.out.printf("demo: MLP %d-%d-10 on %d Fashion-MNIST images from %s, %d epochs, batch %d, %d threads%n",
                pixels, hidden, n, data, epochs, batch, Parallel.threads());
        int stepsPerEpoch = n / batch, step = 0;
        long t0 = System.nanoTime();
        float lastLoss = Float.NaN;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            int[] order = shuffle(n, rng);
            Progress bar = new Progress("epoch " + epoch + "/" + epochs, (long) stepsPerEpoch * batch, "img");
            for (int s = 0; s < stepsPerEpoch; s++) {
                step++;
                try (Scope scope = Scope.open()) {
                    int[] idx = java.util.Arrays.copyOfRange(order, s * batch, (s + 1) * batch);
                    Tensor x = images(be, train, idx, pixels);
                    Tensor logits = forward(x, params);
                    Tensor loss = Loss.crossEntropy(logits, labels(train, idx), 0f);
                    for (Tensor p : params) p.zeroGrad();
                    loss.backward();
                    for (int i = 0; i < params.size(); i++)
                        Update.adamw(params.get(i), moments.get(2 * i), moments.get(2 * i + 1), lr, 0.9f, 0.999f, 1e-8f, i % 2 == 0 ? 1e-4f : 0f, step);
                    lastLoss = loss.item();
                    if (!Float.isFinite(lastLoss))
                        throw new IllegalStateException("demo: loss is " + lastLoss + " at step " + step + "; stopping");
                }
                bar.update((long) (s + 1) * batch, String.format("loss %.4f", lastLoss));
            }
        }
        double trainSeconds = (System.nanoTime() - t0) / 1e9;
        double accuracy = evaluate(be, test, params, pixels);
        System.out.println();
        System.out.println("| metric | value |");
        System.out.println("|---|---|");
        System.out.printf("| final training loss | %.4f |%n", lastLoss);
        System.out.printf("| test accuracy (%d images) | %.2f%% |%n", test.count(), 100 * accuracy);
        System.out.printf("| training time | %.1f s |%n", trainSeconds);
        System.out.printf("| throughput | %.0f images/s |%n", (double) step * batch / trainSeconds);
        System.out.printf("| memory | %s |%n", be.memory());
        for (Tensor t : params) t.close();
        for (Tensor t : moments) t.close();
        return 0;
    }

    private static Tensor forward(Tensor x, List<Tensor> p) {
        return Linalg.linear(Elementwise.gelu(Linalg.linear(x, p.get(0), p.get(1))), p.get(2), p.get(3));
    }

    private double evaluate(Backend be, FashionMnist.Split split, List<Tensor> params, int pixels) {
        int correct = 0;
        try (GradMode off = GradMode.disabled()) {
            for (int start = 0; start < split.count(); start += batch) {
                int end = Math.min(split.count(), start + batch);
                int[] idx = java.util.stream.IntStream.range(start, end).toArray();
                try (Scope s = Scope.open()) {
                    float[] logits = forward(images(be, split, idx, pixels), params).toFloats();
                    for (int r = 0; r < idx.length; r++) {
                        int best = 0;
                        for (int c = 1; c < 10; c++) if (logits[r * 10 + c] > logits[r * 10 + best]) best = c;
                        if (best == split.labels()[idx[r]]) correct++;
                    }
                }
            }
        }
        return (double) correct / split.count();
    }

    private static Tensor images(Backend be, FashionMnist.Split split, int[] idx, int pixels) {
        float[] x = new float[idx.length * pixels];
        for (int r = 0; r < idx.length; r++)
            for (int j = 0; j < pixels; j++) x[r * pixels + j] = (split.images()[idx[r] * pixels + j] & 0xFF) / 255f - 0.5f;
        return Tensor.of(be, x, idx.length, pixels);
    }

    private static int[] labels(FashionMnist.Split split, int[] idx) {
        int[] y = new int[idx.length];
        for (int r = 0; r < idx.length; r++) y[r] = split.labels()[idx[r]];
        return y;
    }

    private static int[] shuffle(int n, Rng rng) {
        int[] order = java.util.stream.IntStream.range(0, n).toArray();
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }
}
