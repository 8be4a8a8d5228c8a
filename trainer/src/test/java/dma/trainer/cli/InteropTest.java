package dma.trainer.cli;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.TensorFiles;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import dma.models.convnext.ConvNeXtConfig;
import dma.models.resnet.ResNetConfig;
import dma.models.vit.ViTConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Checkpoints move both ways between this project and a timm-layout PyTorch model
 * (bench/peers/interop.py, run with Debian's python3-torch): `dma eval` and PyTorch agree on the logits.
 */
class InteropTest {
    private static final Path PEER = Path.of("..", "bench", "peers", "interop.py").toAbsolutePath().normalize();
    private static String torchMissing;
    private final Backend be = CpuBackend.get();

    @BeforeAll
    static void findTorch() {
        torchMissing = run(List.of("/usr/bin/python3", "-c", "import torch")) == 0 ? null
                : "PyTorch peer unavailable (/usr/bin/python3 cannot import torch; apt-get install python3-torch)";
    }

    private static int run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (Exception e) {
            return -1;
        }
    }

    private void peer(String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of("/usr/bin/python3", PEER.toString()));
        cmd.addAll(List.of(args));
        assertEquals(0, run(cmd), "peer command failed: " + String.join(" ", cmd));
    }

    private Path inputs(Path dir, int n, int c, int size) {
        Path f = dir.resolve("inputs.safetensors");
        try (Scope s = Scope.open()) {
            TensorFiles.save(f, Map.of("input", Tensor.normal(be, 77, 0f, 1f, n, c, size, size)), Map.of());
        }
        return f;
    }

    private float[] dmaEval(Path checkpoint, Path inputs, Path out, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("eval", "--checkpoint", checkpoint.toString(), "--inputs", inputs.toString(),
                "--logits-out", out.toString()));
        args.addAll(List.of(extra));
        assertEquals(0, Main.commandLine().execute(args.toArray(String[]::new)));
        return logits(out);
    }

    private float[] logits(Path file) {
        Map<String, Tensor> m = TensorFiles.load(file, be);
        try {
            return m.get("logits").toFloats();
        } finally {
            m.values().forEach(Tensor::close);
        }
    }

    /**
     * Logits within 1e-4 of PyTorch's, relative to the largest logit where that exceeds 1 (the golden tests' 1e-4;
     * the perturbed ResNet-20's logits reach ~200, where float32 rounding over 20 layers alone is ~1e-4 absolute).
     */
    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double max = 0, scale = 1;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertTrue(max < 1e-4 * scale, "max |Δlogit| = " + max + " (largest logit " + scale + ")");
    }

    @Test
    void ourCheckpointsGiveTheSameLogitsInPyTorch(@TempDir Path dir) {
        assumeTrue(torchMissing == null, torchMissing);
        ViTConfig vit = new ViTConfig(16, 4, 3, 7, 24, 3, 3, 4, 0.1);
        ResNetConfig resnet = ResNetConfig.cifar(20, 3, 6);
        ConvNeXtConfig convnext = new ConvNeXtConfig(16, 2, 3, 6, new int[]{1, 2, 2, 1}, new int[]{8, 16, 24, 32}, 0.1);
        for (var arch : List.of(vit, resnet, (dma.models.Architecture) convnext)) {
            Path ckpt = dir.resolve(arch.family() + ".safetensors");
            try (ImageClassifier m = arch.build(be, 5)) {
                // a few train-mode forwards give the BatchNorms running statistics that are not 0 and 1
                for (int i = 0; i < 3; i++)
                    try (Scope s = Scope.open()) {
                        m.forward(Tensor.normal(be, 100 + i, 0.5f, 2f, 8, 3, 16, 16), new Rng(i));
                    }
                // a ConvNeXt starts with layer scale 1e-6, which would hide every block: make them matter
                m.parameters().forEach((k, p) -> {
                    if (k.endsWith("gamma"))
                        try (Scope s = Scope.open()) {
                            p.copyFrom(Tensor.uniform(be, k.hashCode(), 0.2f, 1f, p.shape()));
                        }
                });
                Checkpoint.save(ckpt, m, "test", 3, null);
            }
            Path x = inputs(dir, 5, 3, 16);
            float[] ours = dmaEval(ckpt, x, dir.resolve("ours.safetensors"));
            peer("logits", "--checkpoint", ckpt.toString(), "--inputs", x.toString(), "--out", dir.resolve("torch.safetensors").toString());
            assertClose(logits(dir.resolve("torch.safetensors")), ours);
        }
    }

    @Test
    void pyTorchCheckpointsLoadHereWithoutOurMetadata(@TempDir Path dir) {
        assumeTrue(torchMissing == null, torchMissing);
        Path x = inputs(dir, 4, 3, 16);
        String[][] models = {
                {"vit", "{\"img_size\": 16, \"patch_size\": 4, \"in_chans\": 3, \"num_classes\": 5, \"embed_dim\": 32, \"depth\": 2, \"num_heads\": 4}"},
                {"resnet", "{\"depth\": 20, \"in_chans\": 3, \"num_classes\": 5}"},
                {"convnext", "{\"img_size\": 16, \"patch_size\": 2, \"in_chans\": 3, \"num_classes\": 5, \"depths\": [1, 1, 3, 1], "
                        + "\"dims\": [8, 16, 24, 40]}"}};
        for (String[] m : models) {
            Path ckpt = dir.resolve("torch-" + m[0] + ".safetensors");
            peer("export", "--model", m[0], "--config", m[1], "--seed", "3", "--perturb", "0.05", "--out", ckpt.toString());
            assertTrue(Files.exists(ckpt));
            peer("logits", "--checkpoint", ckpt.toString(), "--inputs", x.toString(), "--out", dir.resolve("torch.safetensors").toString(),
                    "--heads", "4");
            float[] ours = m[0].equals("vit") ? dmaEval(ckpt, x, dir.resolve("ours.safetensors"), "--heads", "4")
                    : dmaEval(ckpt, x, dir.resolve("ours.safetensors"));
            assertClose(logits(dir.resolve("torch.safetensors")), ours);
        }
    }

    /** A ConvNeXt file with no metadata at all (names and shapes only) gives the same logits on both sides. */
    @Test
    void bareConvNeXtCheckpointInBothDirections(@TempDir Path dir) {
        assumeTrue(torchMissing == null, torchMissing);
        ConvNeXtConfig arch = new ConvNeXtConfig(16, 2, 3, 4, new int[]{2, 1, 1, 1}, new int[]{8, 12, 16, 20}, 0);
        Path ckpt = dir.resolve("bare-convnext.safetensors");
        try (ImageClassifier m = arch.build(be, 9)) {
            m.parameters().forEach((k, p) -> {
                try (Scope s = Scope.open()) {
                    p.copyFrom(p.add(Tensor.uniform(be, k.hashCode(), -0.3f, 0.3f, p.shape())));
                }
            });
            TensorFiles.save(ckpt, m.stateDict(), Map.of());
        }
        Path x = inputs(dir, 3, 3, 20); // any size the stem takes, not the one the file was made for
        float[] ours = dmaEval(ckpt, x, dir.resolve("ours.safetensors"));
        peer("logits", "--checkpoint", ckpt.toString(), "--inputs", x.toString(), "--out", dir.resolve("torch.safetensors").toString());
        assertClose(logits(dir.resolve("torch.safetensors")), ours);
    }

    @Test
    void vitWithoutMetadataOrHeadsSaysToPassHeads(@TempDir Path dir) {
        ViTConfig vit = new ViTConfig(8, 4, 1, 3, 8, 1, 2, 4, 0);
        Path ckpt = dir.resolve("bare.safetensors");
        try (ImageClassifier m = vit.build(be, 1)) {
            TensorFiles.save(ckpt, m.stateDict(), Map.of());
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Checkpoint.load(ckpt, be, null));
        assertTrue(e.getMessage().contains("--heads") && e.getMessage().contains("bare.safetensors"), e.getMessage());
        try (var loaded = Checkpoint.load(ckpt, be, 2).model()) {
            assertEquals(vit, loaded.architecture());
        }
    }
}
