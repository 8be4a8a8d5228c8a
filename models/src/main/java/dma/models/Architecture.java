package dma.models;

import dma.engine.Backend;

import java.util.Map;

/**
 * A model family and shape, seen as stem → a sequence of blocks → head: what partitioning, meta
 * models, hybrids, assembly and weight selection need to know about a model, and nothing else.
 */
public interface Architecture {
    /** Marks a state-dict key owned by the stem (see {@link #blockOf}). */
    int STEM = -1;
    /** Marks a state-dict key owned by the head. */
    int HEAD = -2;

    /** The family this is a shape of ({@link ModelFamily}); its {@code toString()} is its name: "vit", "cifar_resnet" or "convnext". */
    ModelFamily<?> family();

    /** The number of blocks in the sequence. */
    int blocks();

    /**
     * The same family and width with {@code depths.length} modules of {@code depths[i]} blocks:
     * a target (its own depths), a meta model (all ones) or a hybrid. Throws if the family cannot be cut so.
     */
    Architecture withModuleDepths(int[] depths);

    /**
     * The module sizes used when only K is given (DESIGN §6.1): K modules of equal size, the first (blocks mod K)
     * one block larger. Families that can only be cut at fixed points (the stages of a ResNet or a ConvNeXt) return
     * those points when K matches their stage count.
     */
    default int[] defaultModuleDepths(int k) {
        int n = blocks();
        int[] d = new int[k];
        for (int i = 0; i < k; i++) d[i] = n / k + (i < n % k ? 1 : 0);
        return d;
    }

    /** Checks that the model can be cut into modules of these depths; the message names the problem. */
    void checkPartition(int[] depths);

    ImageClassifier build(Backend backend, long seed);

    /** Whether the model keeps running statistics (BatchNorm), which an assembled model re-estimates. */
    default boolean hasBatchNorm() {
        return false;
    }

    /**
     * The number of values in the state dict of the model this describes (parameters and buffers), from the shape
     * alone, without building it; Long.MAX_VALUE if it does not fit a long. It is what a checkpoint of the model holds:
     * a reader checks a file against it before building the model the file describes, which could otherwise ask for
     * any size from a few bytes of metadata.
     */
    long stateElements();

    /** The exact sum of {@code terms}, or Long.MAX_VALUE if it overflows (the terms are not negative): for {@link #stateElements}. */
    static long saturatedSum(long... terms) {
        long sum = 0;
        for (long t : terms) {
            sum += t;
            if (sum < 0 || t == Long.MAX_VALUE) return Long.MAX_VALUE;
        }
        return sum;
    }

    /** The exact product of {@code factors} (not negative), or Long.MAX_VALUE if it overflows: for {@link #stateElements}. */
    static long saturatedProduct(long... factors) {
        long product = 1;
        for (long f : factors) {
            if (f == 0) return 0;
            if (product > Long.MAX_VALUE / f) return Long.MAX_VALUE;
            product *= f;
        }
        return product;
    }

    /** STEM, HEAD, or the global index of the block owning a state-dict key. */
    int blockOf(String key);

    /** The part of a block key after the block's own prefix ("attn.qkv.weight" of "blocks.3.attn.qkv.weight"). */
    String suffixInBlock(String key);

    /** The key of {@code suffix} in block {@code index} of this architecture ("blocks.3." + suffix). */
    String keyInBlock(int index, String suffix);

    /**
     * The same model with drop-path rate {@code rate} (the last block's; see each family): a stage's recipe sets it. A
     * family without drop path (CifarResNet) returns itself.
     */
    Architecture withDropPath(double rate);

    /** The classes the head predicts. */
    int numClasses();

    /**
     * The shape of a batch of the images the model is meant for: [batch, in_chans, img_size, img_size]. (CifarResNet
     * records no image size and runs on any: CIFAR's 32.)
     */
    int[] inputShape(int batch);

    /** The fields written into checkpoint metadata ({@link ModelFamily#toMap}). */
    Map<String, Object> toMap();
}
