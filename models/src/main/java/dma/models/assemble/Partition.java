package dma.models.assemble;

import dma.models.Architecture;

import java.util.Arrays;

/**
 * A target model cut along its depth into K modules of consecutive blocks (DESIGN §6.1). Module 0
 * also owns the stem, module K−1 the head. It names every key's owner and translates keys between
 * the target, the meta model (one block per module by default; {@link #withMetaDepth} gives it more)
 * and the hybrid of module i (the meta model with its i-th meta module replaced by the target's module i).
 */
public final class Partition {
    private final Architecture target;
    private final int[] depths;
    private final int[] offsets;
    /** Blocks of each meta module, and where each starts in the meta model. */
    private final int[] metaDepths;
    private final int[] metaOffsets;

    private Partition(Architecture target, int[] depths, int[] metaDepths) {
        target.checkPartition(depths);
        this.target = target;
        this.depths = depths.clone();
        this.offsets = offsets(depths);
        this.metaDepths = metaDepths.clone();
        this.metaOffsets = offsets(metaDepths);
    }

    private Partition(Architecture target, int[] depths) {
        this(target, depths, ones(depths.length));
    }

    private static int[] offsets(int[] depths) {
        int[] o = new int[depths.length];
        for (int i = 1; i < depths.length; i++) o[i] = o[i - 1] + depths[i - 1];
        return o;
    }

    private static int[] ones(int n) {
        int[] d = new int[n];
        Arrays.fill(d, 1);
        return d;
    }

    /** Explicit module sizes ({@code --divided-depths}). */
    public static Partition of(Architecture target, int... depths) {
        return new Partition(target, depths);
    }

    /**
     * K modules of equal size; when K does not divide the depth the first (depth mod K) modules get one more block.
     * A family cut at its stages (ResNet: K = 3, ConvNeXt: K = 4) gets its stages ({@link Architecture#defaultModuleDepths}).
     */
    public static Partition equal(Architecture target, int k) {
        int n = target.blocks();
        if (k < 1 || k > n) throw new IllegalArgumentException("K = " + k + " modules: must be between 1 and the model's " + n + " blocks");
        return new Partition(target, target.defaultModuleDepths(k));
    }

    /**
     * The same cut with a meta model of {@code metaDepth} blocks, spread over the K meta modules as {@link #equal} spreads
     * the target's (the paper's meta-model-depth ablation: 2K blocks give every meta module two).
     */
    public Partition withMetaDepth(int metaDepth) {
        int k = depths.length;
        if (metaDepth < k) throw new IllegalArgumentException("a meta model of " + metaDepth + " blocks: needs at least one block for each of the " + k + " modules");
        int[] m = new int[k];
        for (int i = 0; i < k; i++) m[i] = metaDepth / k + (i < metaDepth % k ? 1 : 0);
        return new Partition(target, depths, m);
    }

    public Architecture target() { return target; }
    public int modules() { return depths.length; }
    public int[] depths() { return depths.clone(); }
    public int offset(int module) { return offsets[module]; }
    /** Blocks of each meta module (all 1 unless {@link #withMetaDepth}). */
    public int[] metaDepths() { return metaDepths.clone(); }
    /** The first block of meta module i in the meta model, which is also where module i starts in hybrid(i). */
    public int metaOffset(int module) { return metaOffsets[module]; }

    /** The meta model: meta module i has {@code metaDepths()[i]} blocks (one by default). */
    public Architecture meta() {
        return target.withModuleDepths(metaDepths);
    }

    /** The meta model with meta module i replaced by the target's module i. */
    public Architecture hybrid(int i) {
        checkModule(i);
        int[] d = metaDepths.clone();
        d[i] = depths[i];
        return target.withModuleDepths(d);
    }

    /** The module that owns a key of the target model. */
    public int moduleOfTarget(String key) {
        int b = target.blockOf(key);
        if (b == Architecture.STEM) return 0;
        if (b == Architecture.HEAD) return depths.length - 1;
        for (int i = depths.length - 1; i >= 0; i--) if (b >= offsets[i]) return i;
        throw new IllegalStateException("unreachable");
    }

    /** The module a key of hybrid(i) belongs to: i for its target blocks (and stem/head at the ends), else its meta module's. */
    public int moduleOfHybrid(int i, String hybridKey) {
        int b = hybrid(i).blockOf(hybridKey);
        if (b == Architecture.STEM) return 0;
        if (b == Architecture.HEAD) return depths.length - 1;
        int start = metaOffsets[i];
        if (b >= start && b < start + depths[i]) return i;
        return metaModuleOf(metaBlockOfHybrid(i, b));
    }

    /** A key of hybrid(i) outside module i → the meta model's key. */
    public String metaKeyOfHybrid(int i, String hybridKey) {
        Architecture h = hybrid(i);
        int b = h.blockOf(hybridKey);
        if (b < 0) return hybridKey;
        int start = metaOffsets[i];
        if (b >= start && b < start + depths[i]) throw new IllegalArgumentException("'" + hybridKey + "' belongs to module " + i + ", not to the meta model");
        return meta().keyInBlock(metaBlockOfHybrid(i, b), h.suffixInBlock(hybridKey));
    }

    /** A key of module i in hybrid(i) → the target model's (global) key. */
    public String targetKeyOfHybrid(int i, String hybridKey) {
        Architecture h = hybrid(i);
        int b = h.blockOf(hybridKey);
        if (b < 0) return hybridKey;
        int start = metaOffsets[i];
        if (b < start || b >= start + depths[i]) throw new IllegalArgumentException("'" + hybridKey + "' is a meta block, not part of module " + i);
        return target.keyInBlock(offsets[i] + b - start, h.suffixInBlock(hybridKey));
    }

    /** Block b of hybrid(i), outside module i → its block in the meta model. */
    private int metaBlockOfHybrid(int i, int b) {
        return b < metaOffsets[i] ? b : b - depths[i] + metaDepths[i];
    }

    /** The meta module that owns block b of the meta model. */
    private int metaModuleOf(int b) {
        for (int j = metaDepths.length - 1; j >= 0; j--) if (b >= metaOffsets[j]) return j;
        throw new IllegalStateException("unreachable");
    }

    private void checkModule(int i) {
        if (i < 0 || i >= depths.length) throw new IllegalArgumentException("module " + i + " does not exist: modules are 0.." + (depths.length - 1));
    }

    @Override
    public String toString() {
        String meta = Arrays.stream(metaDepths).allMatch(d -> d == 1) ? "" : ", meta modules of " + Arrays.toString(metaDepths) + " blocks";
        return target.family() + " cut into " + depths.length + " modules of " + Arrays.toString(depths) + " blocks" + meta;
    }
}
