package dma.trainer.launch;

import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.TensorFiles;
import dma.trainer.cli.Main;
import dma.trainer.data.Idx;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the launcher tests share: a small Fashion-MNIST, the tiny config, running the CLI, comparing weights. */
final class Runs {
    static final Path FMNIST = Path.of("/usr/share/datasets/fashion-mnist");

    private Runs() {}

    /**
     * The first 6000 training and 1000 test images of Fashion-MNIST as raw IDX files: every job of a test run reads
     * and evaluates on these, so the many short processes of a cluster run stay quick on two cores.
     */
    static Path smallFashionMnist(Path dir) throws IOException {
        Path out = Files.createDirectories(dir.resolve("fmnist-small"));
        for (String[] part : new String[][]{{"train", "6000"}, {"t10k", "1000"}}) {
            int n = Integer.parseInt(part[1]);
            Idx.Array images = Idx.read(FMNIST.resolve(part[0] + "-images-idx3-ubyte.gz"));
            Idx.Array labels = Idx.read(FMNIST.resolve(part[0] + "-labels-idx1-ubyte.gz"));
            writeIdx(out.resolve(part[0] + "-images-idx3-ubyte"), new int[]{n, images.dims()[1], images.dims()[2]},
                    Arrays.copyOf(images.data(), n * images.itemSize()));
            writeIdx(out.resolve(part[0] + "-labels-idx1-ubyte"), new int[]{n}, Arrays.copyOf(labels.data(), n));
        }
        return out;
    }

    private static void writeIdx(Path file, int[] dims, byte[] data) throws IOException {
        try (OutputStream f = Files.newOutputStream(file); DataOutputStream out = new DataOutputStream(f)) {
            out.writeInt(0x0800 | dims.length);
            for (int d : dims) out.writeInt(d);
            out.write(data);
        }
    }

    /** The tiny pipeline (ViT depth 3, width 16, K = 2) on the small data set, with the given baselines. */
    static Path config(Path dir, String name, Path data, String baselines) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, """
                {"seed": 3,
                 "data": {"kind": "fashion_mnist", "path": "%s", "train_fraction": 0.1, "workers": 1},
                 "model": {"preset": "vit_fmnist_tiny", "depth": 3, "embed_dim": 16, "num_heads": 2},
                 "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false,
                 "stages": {"meta": {"epochs": 1}, "incubate": {"epochs": 1}, "finetune": {"epochs": 1}},
                 "baselines": [%s],
                 "checkpoint_every": 5, "eval_limit": 300}
                """.formatted(data, baselines));
        return f;
    }

    /** Exit code and output of the CLI run in this JVM. */
    record Cli(int code, String out, String err) {}

    static Cli dma(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        java.io.PrintStream oldOut = System.out;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(new TeeStream(oldOut, captured), true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute(args);
            return new Cli(code, captured.toString(StandardCharsets.UTF_8) + out, err.toString());
        } finally {
            System.setOut(oldOut);
        }
    }

    /** Runs a shell line (e.g. a resubmit command that dma status printed) and returns its exit code; output goes to log. */
    static int shell(String line, Path log, long timeoutSeconds) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", line).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(timeoutSeconds, TimeUnit.SECONDS), "'" + line + "' finished within " + timeoutSeconds + " s; log " + Files.readString(log));
        return p.exitValue();
    }

    /** The two checkpoints hold the same tensors, bit for bit. */
    static void assertSameWeights(Path a, Path b) {
        var be = CpuBackend.get();
        Map<String, Tensor> x = TensorFiles.load(a, be), y = TensorFiles.load(b, be);
        try {
            assertEquals(x.keySet(), y.keySet(), a + " vs " + b);
            x.forEach((key, t) -> assertArrayEquals(t.toFloats(), y.get(key).toFloats(), 0f, key + " in " + a + " vs " + b));
        } finally {
            x.values().forEach(Tensor::close);
            y.values().forEach(Tensor::close);
        }
    }

    /** Copies a finished stage into another run directory (so that run skips it), without its attempt record. */
    static void copyStage(Path from, Path to, String stage) throws IOException {
        Path src = from.resolve(stage), dst = Files.createDirectories(to.resolve(stage));
        try (var files = Files.list(src)) {
            for (Path f : files.toList())
                if (Files.isRegularFile(f) && !f.getFileName().toString().equals("attempt.json")) Files.copy(f, dst.resolve(f.getFileName()));
        }
    }

    /** Writes to two streams. */
    private static final class TeeStream extends OutputStream {
        private final OutputStream a, b;

        TeeStream(OutputStream a, OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int x) throws IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }

        @Override
        public void flush() throws IOException {
            a.flush();
            b.flush();
        }
    }
}
