package dma.models.vit;

import dma.engine.Backend;
import dma.models.Architecture;

import java.util.Locale;
import java.util.Map;

/**
 * The shape of a Vision Transformer. {@code dropPathRate} is the last block's rate; block i drops with
 * {@code dropPathRate · i/(depth−1)} (timm's linspace).
 */
public record ViTConfig(int imgSize, int patchSize, int inChans, int numClasses, int embedDim, int depth,
                        int numHeads, double mlpRatio, double dropPathRate) implements Architecture {
    public ViTConfig {
        require(imgSize > 0 && patchSize > 0 && imgSize % patchSize == 0, "img_size " + imgSize + " must be a positive multiple of patch_size " + patchSize);
        require(inChans > 0, "in_chans must be positive, got " + inChans);
        require(numClasses > 0, "num_classes must be positive, got " + numClasses);
        require(depth > 0, "depth must be positive, got " + depth);
        require(numHeads > 0 && embedDim % numHeads == 0, "embed_dim " + embedDim + " must be divisible by num_heads " + numHeads);
        require(mlpRatio > 0, "mlp_ratio must be positive");
        require(dropPathRate >= 0 && dropPathRate < 1, "drop_path_rate must be in [0, 1), got " + dropPathRate);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("ViT config: " + message);
    }

    public int numPatches() {
        return (imgSize / patchSize) * (imgSize / patchSize);
    }

    public int hiddenDim() {
        return (int) (embedDim * mlpRatio);
    }

    public ViTConfig withDepth(int d) {
        return new ViTConfig(imgSize, patchSize, inChans, numClasses, embedDim, d, numHeads, mlpRatio, dropPathRate);
    }

    public ViTConfig withDropPath(double p) {
        return new ViTConfig(imgSize, patchSize, inChans, numClasses, embedDim, depth, numHeads, mlpRatio, p);
    }

    public ViTConfig withClasses(int n) {
        return new ViTConfig(imgSize, patchSize, inChans, n, embedDim, depth, numHeads, mlpRatio, dropPathRate);
    }

    /** Drop-path rate of block i: linspace(0, p, depth)[i]. */
    public double dropPathOf(int block) {
        return depth == 1 ? 0.0 : dropPathRate * block / (depth - 1);
    }

    /**
     * Named presets: DeiT on ImageNet (224², patch 16), the paper's CIFAR models (32², patch 4, width 192,
     * 3 heads) and Fashion-MNIST sizes (28², 1 channel, patch 4, 10 classes).
     */
    public static ViTConfig preset(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "deit_tiny_patch16_224" -> new ViTConfig(224, 16, 3, 1000, 192, 12, 3, 4, 0.1);
            case "deit_small_patch16_224" -> new ViTConfig(224, 16, 3, 1000, 384, 12, 6, 4, 0.1);
            case "deit_base_patch16_224" -> new ViTConfig(224, 16, 3, 1000, 768, 12, 12, 4, 0.1);
            case "deit_tiny_d32_p4_32" -> new ViTConfig(32, 4, 3, 100, 192, 32, 3, 4, 0.1);
            case "deit_tiny_d128_p4_32" -> new ViTConfig(32, 4, 3, 100, 192, 128, 3, 4, 0.1);
            case "vit_fmnist_tiny" -> new ViTConfig(28, 4, 1, 10, 64, 8, 2, 4, 0.1);
            case "vit_fmnist_d12_w192" -> new ViTConfig(28, 4, 1, 10, 192, 12, 3, 4, 0.1);
            default -> throw new IllegalArgumentException("unknown ViT preset '" + name + "'; known: " + String.join(", ", PRESETS));
        };
    }

    public static final java.util.List<String> PRESETS = java.util.List.of("deit_tiny_patch16_224", "deit_small_patch16_224",
            "deit_base_patch16_224", "deit_tiny_d32_p4_32", "deit_tiny_d128_p4_32", "vit_fmnist_tiny", "vit_fmnist_d12_w192");

    @Override
    public String family() {
        return "vit";
    }

    @Override
    public int blocks() {
        return depth;
    }

    @Override
    public void checkPartition(int[] depths) {
        int sum = 0;
        for (int d : depths) {
            if (d < 1) throw new IllegalArgumentException("divided depths " + java.util.Arrays.toString(depths) + ": every module needs at least one block");
            sum += d;
        }
        if (sum != depth)
            throw new IllegalArgumentException("divided depths " + java.util.Arrays.toString(depths) + " sum to " + sum + ", but the model has depth " + depth);
    }

    @Override
    public ViTConfig withModuleDepths(int[] depths) {
        int sum = 0;
        for (int d : depths) sum += d;
        return withDepth(sum);
    }

    @Override
    public VisionTransformer build(Backend backend, long seed) {
        return new VisionTransformer(backend, this, seed);
    }

    @Override
    public int blockOf(String key) {
        if (key.startsWith("blocks.")) {
            int dot = key.indexOf('.', 7);
            try {
                return Integer.parseInt(key.substring(7, dot < 0 ? key.length() : dot));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ViT: malformed block key '" + key + "'");
            }
        }
        if (key.startsWith("patch_embed.") || key.equals("cls_token") || key.equals("pos_embed")) return STEM;
        if (key.startsWith("norm.") || key.startsWith("head.")) return HEAD;
        throw new IllegalArgumentException("ViT: key '" + key + "' belongs to no part of the model");
    }

    @Override
    public String suffixInBlock(String key) {
        return key.substring(key.indexOf('.', 7) + 1);
    }

    @Override
    public String keyInBlock(int index, String suffix) {
        return "blocks." + index + "." + suffix;
    }

    /** The config as flat string fields (timm's argument names), for checkpoint metadata. */
    public Map<String, Object> toMap() {
        return Map.of("model", "vit", "img_size", imgSize, "patch_size", patchSize, "in_chans", inChans, "num_classes", numClasses,
                "embed_dim", embedDim, "depth", depth, "num_heads", numHeads, "mlp_ratio", mlpRatio, "drop_path_rate", dropPathRate);
    }

    public static ViTConfig fromMap(Map<String, ?> m) {
        return new ViTConfig(num(m, "img_size").intValue(), num(m, "patch_size").intValue(), num(m, "in_chans").intValue(),
                num(m, "num_classes").intValue(), num(m, "embed_dim").intValue(), num(m, "depth").intValue(),
                num(m, "num_heads").intValue(), m.containsKey("mlp_ratio") ? num(m, "mlp_ratio").doubleValue() : 4.0,
                m.containsKey("drop_path_rate") ? num(m, "drop_path_rate").doubleValue() : 0.0);
    }

    private static Number num(Map<String, ?> m, String key) {
        Object v = m.get(key);
        if (v instanceof Number n) return n;
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ViT config: field '" + key + "' must be a number, got '" + s + "'");
            }
        }
        throw new IllegalArgumentException("ViT config: field '" + key + "' is " + (v == null ? "missing" : "not a number: " + v));
    }
}
