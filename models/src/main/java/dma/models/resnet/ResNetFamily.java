package dma.models.resnet;

import dma.models.ConfigFields;
import dma.models.ConfigFields.Field;
import dma.models.ModelFamily;
import dma.models.Presets;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The CifarResNet family ({@link ResNetConfig}, {@link CifarResNet}): names {@code conv1.weight, bn1.*,
 * layer{1,2,3}.j.{conv1,bn1,conv2,bn2}.*, fc.*}; SGD, K = 3 (its stages) by default; no drop path.
 */
public final class ResNetFamily implements ModelFamily<ResNetConfig> {
    public static final ResNetFamily INSTANCE = new ResNetFamily();

    private static final String CONFIG = "ResNet config", PRESET_PREFIX = "cifar_resnet";
    private static final Field<ResNetConfig, Integer> DEPTH = ConfigFields.integer("depth", ResNetConfig::depth),
            IN_CHANS = ConfigFields.integer("in_chans", 3, ResNetConfig::inChans),
            NUM_CLASSES = ConfigFields.integer("num_classes", ResNetConfig::numClasses),
            BASE_WIDTH = ConfigFields.integer("base_width", 16, ResNetConfig::baseWidth);
    private static final Field<ResNetConfig, int[]> STAGE_BLOCKS = ConfigFields.ints("stage_blocks", 3, "one per stage", ResNetConfig::stageBlocks);

    private static final Presets<ResNetConfig> STANDARD = new Presets<ResNetConfig>("CifarResNet")
            .add("cifar_resnet20", ResNetConfig.cifar(20, 3, 10)).add("cifar_resnet56", ResNetConfig.cifar(56, 3, 10))
            .add("cifar_resnet110", ResNetConfig.cifar(110, 3, 10));

    private ResNetFamily() {}

    @Override
    public String name() {
        return "cifar_resnet";
    }

    /** "resnet": the metadata the PyTorch scripts of bench/peers write (timm_layout.py, make_golden.py). */
    @Override
    public List<String> aliases() {
        return List.of("resnet");
    }

    /** The standard depths; any cifar_resnet&lt;6n+2&gt; resolves ({@link #preset}). */
    @Override
    public Presets<ResNetConfig> presetTable() {
        return STANDARD;
    }

    @Override
    public boolean claimsPreset(String name) {
        return name.toLowerCase(Locale.ROOT).startsWith(PRESET_PREFIX);
    }

    /** cifar_resnet&lt;depth&gt;: {@link ResNetConfig#cifar}(depth, 3 channels, 10 classes). */
    @Override
    public ResNetConfig preset(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        int depth;
        try {
            if (!n.startsWith(PRESET_PREFIX)) throw new NumberFormatException();
            depth = Integer.parseInt(n.substring(PRESET_PREFIX.length()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("unknown CifarResNet preset '" + name + "': the presets are cifar_resnet<depth> with depth 6n+2 ("
                    + String.join(", ", presets()) + ", …)");
        }
        return ResNetConfig.cifar(depth, 3, 10);
    }

    @Override
    public Map<String, Object> toMap(ResNetConfig c) {
        return ConfigFields.toMap(name(), c, DEPTH, IN_CHANS, NUM_CLASSES, BASE_WIDTH, STAGE_BLOCKS);
    }

    /**
     * {@code stage_blocks} if given (the depth follows from it; a given {@code depth} is read, so a malformed one is an
     * error, but not compared), else the standard stages of {@code depth}.
     */
    @Override
    public ResNetConfig fromMap(Map<String, ?> m) {
        ConfigFields f = new ConfigFields(CONFIG, m);
        int inChans = f.get(IN_CHANS), classes = f.get(NUM_CLASSES), base = f.get(BASE_WIDTH);
        if (f.has(STAGE_BLOCKS)) {
            if (f.has(DEPTH)) f.get(DEPTH);
            int[] b = f.get(STAGE_BLOCKS);
            return new ResNetConfig(2 * (b[0] + b[1] + b[2]) + 2, inChans, classes, base, b);
        }
        ResNetConfig c = ResNetConfig.cifar(f.get(DEPTH), inChans, classes);
        return new ResNetConfig(c.depth(), inChans, classes, base, c.stageBlocks());
    }

    @Override
    public String marker() {
        return "layer1.0.conv1.weight";
    }

    /** Channels and width from the stem convolution, classes from {@code fc}, each stage's depth from the blocks present. */
    @Override
    public ResNetConfig infer(Map<String, int[]> shapes, Integer heads) {
        int[] conv1 = ModelFamily.shape(shapes, "conv1.weight", 4), fc = ModelFamily.shape(shapes, "fc.weight", 2);
        int[] blocks = new int[3];
        for (int s = 0; s < 3; s++) while (shapes.containsKey("layer" + (s + 1) + "." + blocks[s] + ".conv1.weight")) blocks[s]++;
        return new ResNetConfig(2 * (blocks[0] + blocks[1] + blocks[2]) + 2, conv1[1], fc[0], conv1[0], blocks);
    }

    @Override
    public String headPrefix() {
        return "fc.";
    }

    @Override
    public String defaultOptimizer() {
        return "sgd";
    }

    /** Its three stages. */
    @Override
    public int defaultModules() {
        return 3;
    }

    @Override
    public String toString() {
        return name();
    }
}
