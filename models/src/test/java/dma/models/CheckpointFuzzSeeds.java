package dma.models;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.models.convnext.ConvNeXtConfig;
import dma.models.resnet.ResNetConfig;
import dma.models.vit.ViTConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Writes the committed seed corpus of {@link CheckpointFuzzTest}: the smallest checkpoint of each family (with our
 * metadata, or bare as timm writes it, in F32 or BF16) and one file for each known way a checkpoint is wrong. Run only on
 * request, from the module's folder: {@code mvn test -pl models -Dtest=CheckpointFuzzSeeds -Ddma.fuzz.writeSeeds=true};
 * commit what it writes.
 */
@EnabledIfSystemProperty(named = "dma.fuzz.writeSeeds", matches = "true")
class CheckpointFuzzSeeds {
    static final Path INPUTS = Path.of("src/test/resources/dma/models/CheckpointFuzzTestInputs/checkpoint");

    static final ViTConfig VIT = new ViTConfig(2, 1, 1, 2, 2, 1, 1, 2.0, 0.0);
    static final ResNetConfig RESNET = new ResNetConfig(8, 1, 2, 4, new int[]{1, 1, 1});
    static final ConvNeXtConfig CONVNEXT = new ConvNeXtConfig(8, 1, 1, 2, new int[]{1, 1, 1, 1}, new int[]{1, 1, 1, 1}, 0.0);

    @Test
    void write() throws IOException {
        Files.createDirectories(INPUTS);
        for (var e : seeds().entrySet()) Files.write(INPUTS.resolve(e.getKey()), e.getValue());
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        Backend be = CpuBackend.get();
        // valid
        s.put("vit-with-config.safetensors", file(p -> {
            try (ImageClassifier m = VIT.build(be, 1)) {
                Checkpoint.save(p, m, "meta", 3, null);
            }
        }));
        s.put("vit-bare.safetensors", bare(VIT, false, t -> {}));
        s.put("resnet-bare-bf16.safetensors", bare(RESNET, true, t -> {}));
        s.put("convnext-with-config.safetensors", file(p -> {
            try (ImageClassifier m = CONVNEXT.build(be, 1)) {
                Checkpoint.save(p, m, "e2e", 0, Map.of("teacher", "none"));
            }
        }));
        s.put("convnext-bare-bf16.safetensors", bare(CONVNEXT, true, t -> {}));
        // the architecture
        s.put("no-family-marker.safetensors", tensors(Map.of("something.weight", zeros(2))));
        s.put("two-family-markers.safetensors", bare(VIT, false, t -> t.put("layer1.0.conv1.weight", zeros(1, 1, 1, 1))));
        s.put("vit-bare-missing-pos-embed.safetensors", bare(VIT, false, t -> t.remove("pos_embed")));
        s.put("vit-bare-pos-embed-not-square.safetensors", bare(VIT, false, t -> t.put("pos_embed", zeros(1, 4, 2))));
        s.put("vit-bare-marker-wrong-rank.safetensors", bare(VIT, false, t -> t.put("patch_embed.proj.weight", zeros(2, 1))));
        s.put("resnet-bare-missing-stage.safetensors", bare(RESNET, true, t -> t.keySet().removeIf(k -> k.startsWith("layer3."))));
        s.put("convnext-bare-missing-block.safetensors", bare(CONVNEXT, true, t -> t.keySet().removeIf(k -> k.startsWith("stages.2.blocks.0."))));
        s.put("vit-bare-extra-tensor.safetensors", bare(VIT, false, t -> t.put("blocks.0.extra", zeros(1))));
        s.put("vit-bare-wrong-shape.safetensors", bare(VIT, false, t -> t.put("head.bias", zeros(3))));
        // claims of size the file does not hold: rejected before the model is built
        s.put("vit-bare-zero-size-huge-mlp.safetensors", bare(VIT, false, t -> t.put("blocks.0.mlp.fc1.weight", zeros(1_000_000_000, 0))));
        s.put("vit-bare-zero-size-huge-width.safetensors", bare(VIT, false, t -> t.put("patch_embed.proj.weight", zeros(2_000_000_000, 0, 1, 1))));
        s.put("resnet-bare-zero-size-huge-width.safetensors", bare(RESNET, true, t -> t.put("conv1.weight", zeros(1 << 28, 0, 3, 3))));
        s.put("dimension-beyond-int.safetensors", bare(VIT, false, t -> t.put("head.weight", new HostTensor("F32", new long[]{0, 1L << 40}, new byte[0]))));
        s.put("config-huge-vit.safetensors", withConfig("{\"model\":\"vit\",\"img_size\":224,\"patch_size\":1,\"in_chans\":3,\"num_classes\":1000,"
                + "\"embed_dim\":65536,\"depth\":1000,\"num_heads\":1,\"mlp_ratio\":4.0,\"drop_path_rate\":0.0}"));
        // each tensor under the CPU backend's 2 GiB limit for one allocation, 3.2 GB a block, 1,000 blocks
        s.put("config-many-large-blocks.safetensors", withConfig("{\"model\":\"vit\",\"img_size\":32,\"patch_size\":4,\"in_chans\":3,\"num_classes\":10,"
                + "\"embed_dim\":8192,\"depth\":1000,\"num_heads\":1,\"mlp_ratio\":4.0,\"drop_path_rate\":0.0}"));
        s.put("config-huge-resnet.safetensors", withConfig("{\"model\":\"cifar_resnet\",\"depth\":8,\"in_chans\":3,\"num_classes\":10,"
                + "\"base_width\":536870912,\"stage_blocks\":[1,1,1]}"));
        s.put("config-huge-convnext.safetensors", withConfig("{\"model\":\"convnext\",\"img_size\":64,\"patch_size\":8,\"in_chans\":3,\"num_classes\":10,"
                + "\"depths\":[1,1,1,1],\"dims\":[1073741824,1,1,1],\"drop_path_rate\":0.0}"));
        // the metadata
        s.put("config-not-json.safetensors", withConfig("{\"model\":"));
        s.put("config-null.safetensors", withConfig("null"));
        s.put("config-array.safetensors", withConfig("[1,2]"));
        s.put("config-unknown-model.safetensors", withConfig("{\"model\":\"mlp_mixer\"}"));
        s.put("config-wrong-types.safetensors", withConfig("{\"model\":\"vit\",\"img_size\":\"large\",\"patch_size\":[1],\"in_chans\":1,"
                + "\"num_classes\":2,\"embed_dim\":2,\"depth\":1,\"num_heads\":1}"));
        s.put("config-negative-depth.safetensors", withConfig("{\"model\":\"vit\",\"img_size\":2,\"patch_size\":1,\"in_chans\":1,"
                + "\"num_classes\":2,\"embed_dim\":2,\"depth\":-1,\"num_heads\":1}"));
        s.put("truncated.safetensors", java.util.Arrays.copyOf(s.get("vit-bare.safetensors"), s.get("vit-bare.safetensors").length / 2));
        return s;
    }

    /** The state dict of {@code a}'s model without metadata (F32 or BF16), changed by {@code edit}. */
    static byte[] bare(Architecture a, boolean bf16, Consumer<Map<String, HostTensor>> edit) {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        try (ImageClassifier m = a.build(CpuBackend.get(), 1)) {
            for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
                HostTensor f32 = TensorFiles.toHost(e.getValue());
                t.put(e.getKey(), bf16 ? HostTensor.bf16(f32.shape(), f32.toFloats()) : f32);
            }
        }
        edit.accept(t);
        return tensors(t);
    }

    /** The tiny ViT's state dict with metadata {@code config} set to {@code json}. */
    static byte[] withConfig(String json) {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        try (ImageClassifier m = VIT.build(CpuBackend.get(), 1)) {
            m.stateDict().forEach((k, v) -> t.put(k, TensorFiles.toHost(v)));
        }
        return file(p -> Safetensors.write(p, t, Map.of("format", "dma-checkpoint-1", "config", json)));
    }

    static byte[] tensors(Map<String, HostTensor> t) {
        return file(p -> Safetensors.write(p, t, null));
    }

    static HostTensor zeros(long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return new HostTensor("F32", shape, new byte[Math.toIntExact(4 * n)]);
    }

    /** The bytes {@code writer} writes to a file. */
    static byte[] file(Consumer<Path> writer) {
        try {
            Path tmp = Files.createTempFile("seed-", ".safetensors");
            try {
                writer.accept(tmp);
                return Files.readAllBytes(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
