package dma.models.convnext;

import dma.engine.Backend;
import dma.models.Architecture;

import java.util.Arrays;
import java.util.Map;

/**
 * The shape of a ConvNeXt (v1, timm's {@code ConvNeXt} with a patch stem): stem of a {@code patchSize}×{@code patchSize}
 * stride-{@code patchSize} convolution and a LayerNorm2d, four stages of {@code depths[i]} blocks at {@code dims[i]}
 * channels, each stage but the first opened by a downsample (LayerNorm2d, 2×2 stride-2 convolution), and a head of
 * global average pooling, LayerNorm and a linear classifier. Block g (numbered over all stages) drops its residual
 * branch with rate {@code dropPathRate · g/(blocks − 1)} (timm's linspace over all blocks).
 *
 * <p>As an {@link Architecture} the block sequence is every stage's blocks in order; a stage's downsample belongs to
 * the stage's first block (it runs in front of it), so cutting at stage boundaries gives each module its own
 * downsample. Modules are the four stages: K = 4, divided depths = the stage depths.
 *
 * <p>{@code imgSize} is the size the model is meant for (presets, FLOP counts, checks of the data); the convolutions
 * take any input at least {@code 8·patchSize} on a side, so that the last stage has at least one pixel.
 */
public record ConvNeXtConfig(int imgSize, int patchSize, int inChans, int numClasses, int[] depths, int[] dims,
                             double dropPathRate) implements Architecture {
    public ConvNeXtConfig {
        require(depths != null && depths.length == 4, "depths must list 4 stages, got " + (depths == null ? null : Arrays.toString(depths)));
        require(dims != null && dims.length == 4, "dims must list 4 stages, got " + (dims == null ? null : Arrays.toString(dims)));
        for (int d : depths) require(d >= 1, "every stage needs at least one block, got depths " + Arrays.toString(depths));
        for (int d : dims) require(d >= 1, "dims must be positive, got " + Arrays.toString(dims));
        require(patchSize >= 1, "patch_size must be positive, got " + patchSize);
        require(imgSize >= 8 * patchSize, "img_size " + imgSize + " is too small for patch_size " + patchSize
                + ": the stem divides it by " + patchSize + " and three downsamples by 8 more, so it must be at least " + 8 * patchSize);
        require(inChans > 0, "in_chans must be positive, got " + inChans);
        require(numClasses > 0, "num_classes must be positive, got " + numClasses);
        require(dropPathRate >= 0 && dropPathRate < 1, "drop_path_rate must be in [0, 1), got " + dropPathRate);
        depths = depths.clone();
        dims = dims.clone();
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("ConvNeXt config: " + message);
    }

    @Override
    public int[] depths() {
        return depths.clone();
    }

    @Override
    public int[] dims() {
        return dims.clone();
    }

    public int depth(int stage) {
        return depths[stage];
    }

    public int dim(int stage) {
        return dims[stage];
    }

    /** The global index of stage {@code stage}'s first block. */
    public int stageOffset(int stage) {
        int o = 0;
        for (int s = 0; s < stage; s++) o += depths[s];
        return o;
    }

    /** The stage of global block {@code index}. */
    public int stageOf(int index) {
        int s = 0, j = index;
        while (s < 3 && j >= depths[s]) j -= depths[s++];
        return s;
    }

    /** Drop-path rate of global block g: linspace(0, p, blocks)[g]. */
    public double dropPathOf(int block) {
        int n = blocks();
        return n == 1 ? 0.0 : dropPathRate * block / (n - 1);
    }

    public ConvNeXtConfig withDepths(int... d) {
        return new ConvNeXtConfig(imgSize, patchSize, inChans, numClasses, d, dims, dropPathRate);
    }

    @Override
    public ConvNeXtConfig withDropPath(double p) {
        return new ConvNeXtConfig(imgSize, patchSize, inChans, numClasses, depths, dims, p);
    }

    public ConvNeXtConfig withClasses(int n) {
        return new ConvNeXtConfig(imgSize, patchSize, inChans, n, depths, dims, dropPathRate);
    }

    /** The preset called {@code name}: {@link ConvNeXtFamily#preset}, typed. */
    public static ConvNeXtConfig preset(String name) {
        return ConvNeXtFamily.INSTANCE.preset(name);
    }

    @Override
    public ConvNeXtFamily family() {
        return ConvNeXtFamily.INSTANCE;
    }

    @Override
    public int blocks() {
        return depths[0] + depths[1] + depths[2] + depths[3];
    }

    /** K = 4: the stage depths; any other K is refused by {@link #checkPartition}. */
    @Override
    public int[] defaultModuleDepths(int k) {
        return k == 4 ? depths.clone() : Architecture.super.defaultModuleDepths(k);
    }

    /** Modules are the four stages: width and resolution change between them, so one meta block per stage keeps the shapes. */
    @Override
    public void checkPartition(int[] d) {
        if (d.length != 4)
            throw new IllegalArgumentException("ConvNeXt is cut at its four stages: K must be 4, got K = " + d.length);
        if (!Arrays.equals(d, depths))
            throw new IllegalArgumentException("ConvNeXt is cut at its four stages: divided depths must be " + Arrays.toString(depths)
                    + ", got " + Arrays.toString(d));
    }

    @Override
    public ConvNeXtConfig withModuleDepths(int[] d) {
        if (d.length != 4) throw new IllegalArgumentException("ConvNeXt has four stages, got " + d.length + " module depths");
        return withDepths(d);
    }

    /**
     * The stem (patch convolution with bias, LayerNorm2d); per later stage a downsample (LayerNorm2d, 2×2 convolution with
     * bias); per block the depthwise 7×7 convolution, LayerNorm, the MLP (4·dim hidden) and the layer scale
     * (8·dim² + 58·dim); the head's LayerNorm and classifier.
     */
    @Override
    public long stateElements() {
        long total = Architecture.saturatedSum(Architecture.saturatedProduct(dims[0], inChans, patchSize, patchSize), 3L * dims[0]);
        for (int s = 0; s < 4; s++) {
            long d = dims[s];
            if (s > 0) total = Architecture.saturatedSum(total, 2L * dims[s - 1], Architecture.saturatedProduct(4, d, dims[s - 1]), d);
            long block = Architecture.saturatedSum(Architecture.saturatedProduct(8, d, d), 58 * d);
            total = Architecture.saturatedSum(total, Architecture.saturatedProduct(depths[s], block));
        }
        long last = dims[3];
        return Architecture.saturatedSum(total, 2 * last, Architecture.saturatedProduct(numClasses, last), numClasses);
    }

    @Override
    public ConvNeXt build(Backend backend, long seed) {
        return new ConvNeXt(backend, this, seed);
    }

    /**
     * stem.* → STEM; head.* → HEAD; stages.i.blocks.j.* → the global index of that block; stages.i.downsample.* →
     * the global index of stage i's first block (the downsample runs in front of it).
     */
    @Override
    public int blockOf(String key) {
        if (key.startsWith("stem.")) return STEM;
        if (key.startsWith("head.")) return HEAD;
        if (key.startsWith("stages.")) {
            int dot = key.indexOf('.', 7);
            int stage = parse(key, 7, dot);
            if (stage >= 0 && stage < 4) {
                String rest = key.substring(dot + 1);
                if (rest.startsWith("downsample.") && stage > 0) return stageOffset(stage);
                if (rest.startsWith("blocks.")) {
                    int start = dot + 1 + 7, end = key.indexOf('.', start);
                    int j = parse(key, start, end);
                    if (j >= 0 && j < depths[stage]) return stageOffset(stage) + j;
                }
            }
        }
        throw new IllegalArgumentException("ConvNeXt: key '" + key + "' belongs to no part of the model " + Arrays.toString(depths));
    }

    private static int parse(String key, int start, int end) {
        if (end <= start) return -1;
        try {
            return Integer.parseInt(key.substring(start, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** "conv_dw.weight" of "stages.1.blocks.2.conv_dw.weight"; "downsample.0.weight" of "stages.1.downsample.0.weight". */
    @Override
    public String suffixInBlock(String key) {
        blockOf(key); // validates
        String rest = key.substring(key.indexOf('.', 7) + 1);
        return rest.startsWith("downsample.") ? rest : rest.substring(rest.indexOf('.', 7) + 1);
    }

    /** The inverse of {@link #suffixInBlock}: a "downsample.*" suffix belongs to the stage of block {@code index}, which must be its first block. */
    @Override
    public String keyInBlock(int index, String suffix) {
        int s = stageOf(index), j = index - stageOffset(s);
        if (suffix.startsWith("downsample.")) {
            if (j != 0 || s == 0)
                throw new IllegalArgumentException("ConvNeXt: '" + suffix + "' belongs to the first block of stages 1..3, not to block " + index);
            return "stages." + s + "." + suffix;
        }
        return "stages." + s + ".blocks." + j + "." + suffix;
    }

    @Override
    public int[] inputShape(int batch) {
        return new int[]{batch, inChans, imgSize, imgSize};
    }

    /** {@link ConvNeXtFamily#toMap}. */
    @Override
    public Map<String, Object> toMap() {
        return ConvNeXtFamily.INSTANCE.toMap(this);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConvNeXtConfig c && c.imgSize == imgSize && c.patchSize == patchSize && c.inChans == inChans
                && c.numClasses == numClasses && Arrays.equals(c.depths, depths) && Arrays.equals(c.dims, dims)
                && Double.compare(c.dropPathRate, dropPathRate) == 0;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(imgSize, patchSize, inChans, numClasses, Arrays.hashCode(depths), Arrays.hashCode(dims), dropPathRate);
    }

    @Override
    public String toString() {
        return "ConvNeXtConfig" + toMap();
    }
}
