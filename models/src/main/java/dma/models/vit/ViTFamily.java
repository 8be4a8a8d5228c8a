package dma.models.vit;

import dma.models.ConfigFields;
import dma.models.ConfigFields.Field;
import dma.models.ModelFamily;
import dma.models.Presets;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Vision Transformer family ({@link ViTConfig}, {@link VisionTransformer}): timm's {@code VisionTransformer}
 * names ({@code patch_embed.*, cls_token, pos_embed, blocks.i.*, norm.*, head.*}); AdamW, K = 4 by default.
 */
public final class ViTFamily implements ModelFamily<ViTConfig> {
    public static final ViTFamily INSTANCE = new ViTFamily();

    private static final String CONFIG = "ViT config";
    private static final Field<ViTConfig, Integer> IMG_SIZE = ConfigFields.integer("img_size", ViTConfig::imgSize),
            PATCH_SIZE = ConfigFields.integer("patch_size", ViTConfig::patchSize),
            IN_CHANS = ConfigFields.integer("in_chans", ViTConfig::inChans),
            NUM_CLASSES = ConfigFields.integer("num_classes", ViTConfig::numClasses),
            EMBED_DIM = ConfigFields.integer("embed_dim", ViTConfig::embedDim),
            DEPTH = ConfigFields.integer("depth", ViTConfig::depth),
            NUM_HEADS = ConfigFields.integer("num_heads", ViTConfig::numHeads);
    private static final Field<ViTConfig, Double> MLP_RATIO = ConfigFields.decimal("mlp_ratio", 4.0, ViTConfig::mlpRatio),
            DROP_PATH_RATE = ConfigFields.decimal("drop_path_rate", 0.0, ViTConfig::dropPathRate);

    /**
     * Named presets, in listing order: DeiT on ImageNet (224², patch 16), the paper's CIFAR models (32², patch 4, width 192, 3 heads) and
     * Fashion-MNIST sizes (28², 1 channel, patch 4, 10 classes).
     */
    private static final Presets<ViTConfig> PRESETS = new Presets<>("ViT");

    static {
        PRESETS.add("deit_tiny_patch16_224", new ViTConfig(224, 16, 3, 1000, 192, 12, 3, 4, 0.1));
        PRESETS.add("deit_small_patch16_224", new ViTConfig(224, 16, 3, 1000, 384, 12, 6, 4, 0.1));
        PRESETS.add("deit_base_patch16_224", new ViTConfig(224, 16, 3, 1000, 768, 12, 12, 4, 0.1));
        PRESETS.add("deit_tiny_d32_p4_32", new ViTConfig(32, 4, 3, 100, 192, 32, 3, 4, 0.1));
        PRESETS.add("deit_tiny_d128_p4_32", new ViTConfig(32, 4, 3, 100, 192, 128, 3, 4, 0.1));
        PRESETS.add("vit_fmnist_tiny", new ViTConfig(28, 4, 1, 10, 64, 8, 2, 4, 0.1));
        PRESETS.add("vit_fmnist_d12_w192", new ViTConfig(28, 4, 1, 10, 192, 12, 3, 4, 0.1));
    }

    private ViTFamily() {}

    @Override
    public Presets<ViTConfig> presetTable() {
        return PRESETS;
    }

    @Override
    public String name() {
        return "vit";
    }

    /** The presets and any other "deit_…" or "vit_…" name. */
    @Override
    public boolean claimsPreset(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.startsWith("deit_") || n.startsWith("vit_");
    }

    @Override
    public Map<String, Object> toMap(ViTConfig c) {
        return ConfigFields.toMap(name(), c, IMG_SIZE, PATCH_SIZE, IN_CHANS, NUM_CLASSES, EMBED_DIM, DEPTH, NUM_HEADS, MLP_RATIO, DROP_PATH_RATE);
    }

    @Override
    public ViTConfig fromMap(Map<String, ?> m) {
        ConfigFields f = new ConfigFields(CONFIG, m);
        return new ViTConfig(f.get(IMG_SIZE), f.get(PATCH_SIZE), f.get(IN_CHANS), f.get(NUM_CLASSES), f.get(EMBED_DIM), f.get(DEPTH),
                f.get(NUM_HEADS), f.get(MLP_RATIO), f.get(DROP_PATH_RATE));
    }

    @Override
    public String marker() {
        return "patch_embed.proj.weight";
    }

    /** Width, patch and channels from the patch embedding, the grid from {@code pos_embed}, depth from the blocks present. */
    @Override
    public ViTConfig infer(Map<String, int[]> shapes, Integer heads) {
        int[] proj = ModelFamily.shape(shapes, "patch_embed.proj.weight", 4), pos = ModelFamily.shape(shapes, "pos_embed", 3),
                head = ModelFamily.shape(shapes, "head.weight", 2), fc1 = ModelFamily.shape(shapes, "blocks.0.mlp.fc1.weight", 2);
        int d = proj[0], patch = proj[2], tokens = pos[1] - 1, side = (int) Math.round(Math.sqrt(tokens));
        if (side * side != tokens)
            throw new IllegalArgumentException("pos_embed " + Arrays.toString(pos) + " does not hold a square grid of patches plus a class token");
        int depth = 0;
        while (shapes.containsKey("blocks." + depth + ".norm1.weight")) depth++;
        if (heads == null)
            throw new IllegalArgumentException("a ViT checkpoint without our metadata does not tell its number of heads; pass --heads N");
        return new ViTConfig(side * patch, patch, proj[1], head[0], d, depth, heads, (double) fc1[0] / d, 0.0);
    }

    @Override
    public String headPrefix() {
        return "head.";
    }

    @Override
    public String defaultOptimizer() {
        return "adamw";
    }

    @Override
    public int defaultModules() {
        return 4;
    }

    @Override
    public String toString() {
        return name();
    }
}
