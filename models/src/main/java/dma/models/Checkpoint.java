package dma.models;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.models.convnext.ConvNeXtConfig;
import dma.models.resnet.ResNetConfig;
import dma.models.vit.ViTConfig;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Model checkpoints: a safetensors file of the state dict under timm names, with metadata
 * {@code config} (the architecture as JSON), {@code stage} and {@code step}. Files written by timm or
 * PyTorch without that metadata load too: the architecture is inferred from names and shapes.
 */
public final class Checkpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoint() {}

    /** A loaded model with the file's metadata. */
    public record Loaded(ImageClassifier model, Architecture architecture, Map<String, String> metadata) {}

    /** Writes atomically (temp file, fsync, rename). */
    public static void save(Path file, ImageClassifier model, String stage, long step, Map<String, String> extra) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "dma-checkpoint-1");
        meta.put("config", toJson(model.architecture().toMap()));
        meta.put("stage", stage);
        meta.put("step", Long.toString(step));
        if (extra != null) meta.putAll(extra);
        TensorFiles.save(file, model.stateDict(), meta);
    }

    /**
     * Loads a checkpoint and builds its model on {@code backend}. {@code heads} is needed only for a ViT
     * file without our metadata (shapes do not tell the head count); otherwise it may be null.
     */
    public static Loaded load(Path file, Backend backend, Integer heads) {
        Safetensors.Loaded raw = Safetensors.read(file);
        Map<String, int[]> shapes = new LinkedHashMap<>();
        raw.tensors().forEach((k, v) -> shapes.put(k, intShape(v)));
        String config = raw.metadata().get("config");
        Architecture arch = config != null ? fromJson(file, config) : infer(file, shapes, heads);
        ImageClassifier model = arch.build(backend, 0);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            raw.tensors().forEach((k, v) -> tensors.put(k, TensorFiles.fromHost(backend, v)));
            model.load(tensors, file.toString(), true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        } finally {
            tensors.values().forEach(Tensor::close);
        }
        return new Loaded(model, arch, raw.metadata());
    }

    @SuppressWarnings("unchecked")
    static Architecture fromJson(Path file, String json) {
        Map<String, Object> m;
        try {
            m = JSON.readValue(json, Map.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": metadata 'config' is not valid JSON: " + e.getOriginalMessage());
        }
        Object model = m.get("model");
        try {
            if ("vit".equals(model)) return ViTConfig.fromMap(m);
            if ("cifar_resnet".equals(model) || "resnet".equals(model)) return ResNetConfig.fromMap(m);
            if ("convnext".equals(model)) return ConvNeXtConfig.fromMap(m);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": metadata 'config': " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(file + ": metadata 'config' has model '" + model + "'; expected 'vit', 'cifar_resnet' or 'convnext'");
    }

    /**
     * The architecture that tensor names and shapes describe (timm ViT, CIFAR ResNet or timm ConvNeXt). A ConvNeXt file
     * does not tell the image size it was trained at: the smallest size its stem accepts (8 × patch) is assumed, which
     * only matters for FLOP counts (the model runs on any size).
     */
    public static Architecture infer(Path file, Map<String, int[]> shapes, Integer heads) {
        if (shapes.containsKey("patch_embed.proj.weight")) {
            int[] proj = need(file, shapes, "patch_embed.proj.weight", 4), pos = need(file, shapes, "pos_embed", 3),
                    head = need(file, shapes, "head.weight", 2), fc1 = need(file, shapes, "blocks.0.mlp.fc1.weight", 2);
            int d = proj[0], patch = proj[2], tokens = pos[1] - 1, side = (int) Math.round(Math.sqrt(tokens));
            if (side * side != tokens)
                throw new IllegalArgumentException(file + ": pos_embed " + java.util.Arrays.toString(pos) + " does not hold a square grid of patches plus a class token");
            int depth = 0;
            while (shapes.containsKey("blocks." + depth + ".norm1.weight")) depth++;
            if (heads == null)
                throw new IllegalArgumentException(file + ": a ViT checkpoint without our metadata does not tell its number of heads; pass --heads N");
            return new ViTConfig(side * patch, patch, proj[1], head[0], d, depth, heads, (double) fc1[0] / d, 0.0);
        }
        if (shapes.containsKey("layer1.0.conv1.weight")) {
            int[] conv1 = need(file, shapes, "conv1.weight", 4), fc = need(file, shapes, "fc.weight", 2);
            int[] blocks = new int[3];
            for (int s = 0; s < 3; s++) while (shapes.containsKey("layer" + (s + 1) + "." + blocks[s] + ".conv1.weight")) blocks[s]++;
            return new ResNetConfig(2 * (blocks[0] + blocks[1] + blocks[2]) + 2, conv1[1], fc[0], conv1[0], blocks);
        }
        if (shapes.containsKey("stem.0.weight")) {
            int[] stem = need(file, shapes, "stem.0.weight", 4), fc = need(file, shapes, "head.fc.weight", 2);
            int[] depths = new int[4], dims = new int[4];
            for (int s = 0; s < 4; s++) {
                while (shapes.containsKey("stages." + s + ".blocks." + depths[s] + ".conv_dw.weight")) depths[s]++;
                if (depths[s] == 0) throw new IllegalArgumentException(file + ": missing tensor 'stages." + s + ".blocks.0.conv_dw.weight'");
                dims[s] = need(file, shapes, "stages." + s + ".blocks.0.conv_dw.weight", 4)[0];
            }
            int patch = stem[2];
            return new ConvNeXtConfig(8 * patch, patch, stem[1], fc[0], depths, dims, 0.0);
        }
        throw new IllegalArgumentException(file + ": cannot tell the architecture: expected 'patch_embed.proj.weight' (ViT), "
                + "'layer1.0.conv1.weight' (CIFAR ResNet) or 'stem.0.weight' (ConvNeXt)");
    }

    private static int[] need(Path file, Map<String, int[]> shapes, String key, int rank) {
        int[] s = shapes.get(key);
        if (s == null) throw new IllegalArgumentException(file + ": missing tensor '" + key + "'");
        if (s.length != rank) throw new IllegalArgumentException(file + ": tensor '" + key + "' has shape " + java.util.Arrays.toString(s) + ", expected rank " + rank);
        return s;
    }

    private static int[] intShape(HostTensor t) {
        int[] s = new int[t.shape().length];
        for (int i = 0; i < s.length; i++) s[i] = Math.toIntExact(t.shape()[i]);
        return s;
    }

    private static String toJson(Map<String, Object> m) {
        try {
            return JSON.writeValueAsString(new java.util.TreeMap<>(m));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
