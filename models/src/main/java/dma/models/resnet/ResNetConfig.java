package dma.models.resnet;

import dma.engine.Backend;
import dma.models.Architecture;

import java.util.Arrays;
import java.util.Map;

/** CifarResNet: depth 6n+2, three stages of n BasicBlocks at 16/32/64 channels (widths may be scaled for weight selection). */
public record ResNetConfig(int depth, int inChans, int numClasses, int baseWidth, int[] stageBlocks) implements Architecture {
    public ResNetConfig {
        if (baseWidth <= 0 || baseWidth % 4 != 0) throw new IllegalArgumentException("ResNet config: base_width must be a positive multiple of 4, got " + baseWidth);
        if (inChans <= 0 || numClasses <= 0) throw new IllegalArgumentException("ResNet config: in_chans and num_classes must be positive");
        if (stageBlocks.length != 3) throw new IllegalArgumentException("ResNet config: three stages, got " + stageBlocks.length);
        for (int b : stageBlocks) if (b <= 0) throw new IllegalArgumentException("ResNet config: every stage needs at least one block");
        stageBlocks = stageBlocks.clone();
    }

    /** CifarResNet-{20, 56, 110, …}: (depth − 2)/6 blocks in each stage, 16/32/64 channels. */
    public static ResNetConfig cifar(int depth, int inChans, int numClasses) {
        if (depth < 8 || (depth - 2) % 6 != 0) throw new IllegalArgumentException("ResNet config: depth must be 6n+2 (20, 56, 110, …), got " + depth);
        int n = (depth - 2) / 6;
        return new ResNetConfig(depth, inChans, numClasses, 16, new int[]{n, n, n});
    }

    public int width(int stage) {
        return baseWidth << stage;
    }

    public int blocks() {
        return stageBlocks[0] + stageBlocks[1] + stageBlocks[2];
    }

    /** The stem convolution (3×3, no bias) and BatchNorm, per block two such pairs, and fc; option-A shortcuts hold no state. */
    @Override
    public long stateElements() {
        long in = baseWidth;
        long total = Architecture.saturatedSum(Architecture.saturatedProduct(9, inChans, in), 4 * in);
        for (int s = 0; s < 3; s++) {
            long out = (long) baseWidth << s;
            long first = Architecture.saturatedSum(Architecture.saturatedProduct(9, out, in), Architecture.saturatedProduct(9, out, out), 8 * out);
            long rest = Architecture.saturatedSum(Architecture.saturatedProduct(18, out, out), 8 * out);
            total = Architecture.saturatedSum(total, first, Architecture.saturatedProduct(stageBlocks[s] - 1L, rest));
            in = out;
        }
        return Architecture.saturatedSum(total, Architecture.saturatedProduct(numClasses, in), numClasses);
    }

    public ResNetConfig withStageBlocks(int... blocks) {
        return new ResNetConfig(2 * (blocks[0] + blocks[1] + blocks[2]) + 2, inChans, numClasses, baseWidth, blocks);
    }

    @Override
    public ResNetFamily family() {
        return ResNetFamily.INSTANCE;
    }

    @Override
    public boolean hasBatchNorm() {
        return true;
    }

    /** No drop path: itself. */
    @Override
    public ResNetConfig withDropPath(double rate) {
        return this;
    }

    /** [batch, in_chans, 32, 32]: CIFAR's images (the model records no image size and runs on any). */
    @Override
    public int[] inputShape(int batch) {
        return new int[]{batch, inChans, 32, 32};
    }

    /** K = 3: the stage depths (equal for the standard depths; a selected student may have unequal stages). */
    @Override
    public int[] defaultModuleDepths(int k) {
        return k == 3 ? stageBlocks.clone() : Architecture.super.defaultModuleDepths(k);
    }

    /** Modules are the three stages: resolution and width change between them, so a meta block per stage keeps the shapes. */
    @Override
    public void checkPartition(int[] depths) {
        if (depths.length != 3)
            throw new IllegalArgumentException("CifarResNet is cut at its three stages: K must be 3, got K = " + depths.length);
        if (!Arrays.equals(depths, stageBlocks))
            throw new IllegalArgumentException("CifarResNet is cut at its three stages: divided depths must be " + Arrays.toString(stageBlocks)
                    + ", got " + Arrays.toString(depths));
    }

    @Override
    public ResNetConfig withModuleDepths(int[] depths) {
        if (depths.length != 3) throw new IllegalArgumentException("CifarResNet has three stages, got " + depths.length + " module depths");
        return withStageBlocks(depths);
    }

    @Override
    public CifarResNet build(Backend backend, long seed) {
        return new CifarResNet(backend, this, seed);
    }

    @Override
    public int blockOf(String key) {
        if (key.startsWith("conv1.") || key.startsWith("bn1.")) return STEM;
        if (key.startsWith("fc.")) return HEAD;
        if (key.startsWith("layer") && key.length() > 7 && key.charAt(6) == '.') {
            int stage = key.charAt(5) - '1';
            int dot = key.indexOf('.', 7);
            if (stage >= 0 && stage < 3 && dot > 7) {
                int j = Integer.parseInt(key.substring(7, dot));
                int g = j;
                for (int s = 0; s < stage; s++) g += stageBlocks[s];
                return g;
            }
        }
        throw new IllegalArgumentException("CifarResNet: key '" + key + "' belongs to no part of the model");
    }

    @Override
    public String suffixInBlock(String key) {
        return key.substring(key.indexOf('.', 7) + 1);
    }

    @Override
    public String keyInBlock(int index, String suffix) {
        int s = 0, j = index;
        while (s < 2 && j >= stageBlocks[s]) j -= stageBlocks[s++];
        return "layer" + (s + 1) + "." + j + "." + suffix;
    }

    /** {@link ResNetFamily#toMap}. */
    @Override
    public Map<String, Object> toMap() {
        return ResNetFamily.INSTANCE.toMap(this);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ResNetConfig r && r.depth == depth && r.inChans == inChans && r.numClasses == numClasses
                && r.baseWidth == baseWidth && java.util.Arrays.equals(r.stageBlocks, stageBlocks);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(depth, inChans, numClasses, baseWidth, java.util.Arrays.hashCode(stageBlocks));
    }

    @Override
    public String toString() {
        return "ResNetConfig" + toMap();
    }
}
