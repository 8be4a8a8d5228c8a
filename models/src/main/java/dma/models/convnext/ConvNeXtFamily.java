package dma.models.convnext;

import dma.models.ConfigFields;
import dma.models.ConfigFields.Field;
import dma.models.ModelFamily;
import dma.models.Presets;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * The ConvNeXt family ({@link ConvNeXtConfig}, {@link ConvNeXt}): timm's {@code ConvNeXt} names ({@code stem.{0,1}.*,
 * stages.i.downsample.{0,1}.*, stages.i.blocks.j.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}, head.{norm, fc}.*}); the
 * weight-selection recipe for ConvNeXt-F by default (AdamW at lr 4e-3 not scaled by batch, K = 4: its stages).
 */
public final class ConvNeXtFamily implements ModelFamily<ConvNeXtConfig> {
    public static final ConvNeXtFamily INSTANCE = new ConvNeXtFamily();

    private static final String CONFIG = "ConvNeXt config";
    private static final Field<ConvNeXtConfig, Integer> IMG_SIZE = ConfigFields.integer("img_size", ConvNeXtConfig::imgSize),
            PATCH_SIZE = ConfigFields.integer("patch_size", ConvNeXtConfig::patchSize),
            IN_CHANS = ConfigFields.integer("in_chans", ConvNeXtConfig::inChans),
            NUM_CLASSES = ConfigFields.integer("num_classes", ConvNeXtConfig::numClasses);
    private static final Field<ConvNeXtConfig, int[]> DEPTHS = ConfigFields.ints("depths", 4, "one per stage", ConvNeXtConfig::depths),
            DIMS = ConfigFields.ints("dims", 4, "one per stage", ConvNeXtConfig::dims);
    private static final Field<ConvNeXtConfig, Double> DROP_PATH_RATE = ConfigFields.decimal("drop_path_rate", 0.0, ConvNeXtConfig::dropPathRate);

    /**
     * Named presets, in listing order: timm's {@code convnext_femto} (2/2/6/2 blocks, 48/96/192/384 channels) and
     * {@code convnext_tiny} (3/3/9/3, 96/192/384/768) at 224² with a patch-4 stem and 1000 classes, and small-image
     * variants with a patch-2 stem: {@code _fmnist} (28², 1 channel, 10 classes: stages at 14, 7, 3, 1 pixels) and
     * {@code _cifar} (32², 3 channels, 100 classes: 16, 8, 4, 2). A patch-4 stem would leave 7, 3, 1, 0 pixels at 28²
     * (the last downsample has nothing to read) and 8, 4, 2, 1 at 32²; patch 1 would keep 28, 14, 7, 3 at four times
     * the cost of patch 2 in every stage. Patch 2 gives the 8× reduction between the first and the last stage that
     * ImageNet's 56 → 7 has and runs on two cores. Drop path 0.1 (the weight-selection recipe for ConvNeXt-F).
     */
    private static final Presets<ConvNeXtConfig> PRESETS = new Presets<>("ConvNeXt");

    static {
        int[] femto = {2, 2, 6, 2}, femtoDims = {48, 96, 192, 384}, tiny = {3, 3, 9, 3}, tinyDims = {96, 192, 384, 768};
        PRESETS.add("convnext_femto", new ConvNeXtConfig(224, 4, 3, 1000, femto, femtoDims, 0.1));
        PRESETS.add("convnext_tiny", new ConvNeXtConfig(224, 4, 3, 1000, tiny, tinyDims, 0.1));
        PRESETS.add("convnext_femto_fmnist", new ConvNeXtConfig(28, 2, 1, 10, femto, femtoDims, 0.1));
        PRESETS.add("convnext_tiny_fmnist", new ConvNeXtConfig(28, 2, 1, 10, tiny, tinyDims, 0.1));
        PRESETS.add("convnext_femto_cifar", new ConvNeXtConfig(32, 2, 3, 100, femto, femtoDims, 0.1));
        PRESETS.add("convnext_tiny_cifar", new ConvNeXtConfig(32, 2, 3, 100, tiny, tinyDims, 0.1));
    }

    private ConvNeXtFamily() {}

    @Override
    public Presets<ConvNeXtConfig> presetTable() {
        return PRESETS;
    }

    @Override
    public String name() {
        return "convnext";
    }

    /** The presets and any other "convnext…" name. */
    @Override
    public boolean claimsPreset(String name) {
        return name.toLowerCase(Locale.ROOT).startsWith("convnext");
    }

    @Override
    public Map<String, Object> toMap(ConvNeXtConfig c) {
        return ConfigFields.toMap(name(), c, IMG_SIZE, PATCH_SIZE, IN_CHANS, NUM_CLASSES, DEPTHS, DIMS, DROP_PATH_RATE);
    }

    @Override
    public ConvNeXtConfig fromMap(Map<String, ?> m) {
        ConfigFields f = new ConfigFields(CONFIG, m);
        return new ConvNeXtConfig(f.get(IMG_SIZE), f.get(PATCH_SIZE), f.get(IN_CHANS), f.get(NUM_CLASSES), f.get(DEPTHS), f.get(DIMS),
                f.get(DROP_PATH_RATE));
    }

    @Override
    public String marker() {
        return "stages.0.blocks.0.conv_dw.weight";
    }

    /**
     * Patch and channels from the stem, classes from {@code head.fc}, each stage's depth from its blocks and its width
     * from its first depthwise kernel. A ConvNeXt file does not tell the image size it was trained at: the smallest size
     * its stem accepts (8 × patch) is assumed, which only matters for FLOP counts (the model runs on any size).
     */
    @Override
    public ConvNeXtConfig infer(Map<String, int[]> shapes, Integer heads) {
        int[] stem = ModelFamily.shape(shapes, "stem.0.weight", 4), fc = ModelFamily.shape(shapes, "head.fc.weight", 2);
        int[] depths = new int[4], dims = new int[4];
        for (int s = 0; s < 4; s++) {
            while (shapes.containsKey("stages." + s + ".blocks." + depths[s] + ".conv_dw.weight")) depths[s]++;
            if (depths[s] == 0) throw new IllegalArgumentException("missing tensor 'stages." + s + ".blocks.0.conv_dw.weight'");
            dims[s] = ModelFamily.shape(shapes, "stages." + s + ".blocks.0.conv_dw.weight", 4)[0];
        }
        int patch = stem[2];
        return new ConvNeXtConfig(8 * patch, patch, stem[1], fc[0], depths, dims, 0.0);
    }

    /** {@code head.*}, which includes {@code head.norm}: it keeps its init too, as the official weight-selection code does. */
    @Override
    public String headPrefix() {
        return "head.";
    }

    /**
     * No: a depthwise kernel {@code conv_dw.weight [C, 1, 7, 7]} has the same 7 × 7 taps in teacher and student, so only
     * its channels are selected; the stem and downsample convolutions are selected in both channel dimensions (their
     * kernel sizes must agree).
     */
    @Override
    public boolean selectsKernelTaps() {
        return false;
    }

    @Override
    public String defaultOptimizer() {
        return "adamw";
    }

    /** Its four stages. */
    @Override
    public int defaultModules() {
        return 4;
    }

    /** AdamW: 4e-3, not scaled by batch (the weight-selection recipe for ConvNeXt-F: AdamW, lr 4e-3, wd 0.05, drop path 0.1). */
    @Override
    public OptionalDouble fixedBaseLr(String optimizer) {
        return optimizer.equals("adamw") ? OptionalDouble.of(4e-3) : OptionalDouble.empty();
    }

    @Override
    public String toString() {
        return name();
    }
}
