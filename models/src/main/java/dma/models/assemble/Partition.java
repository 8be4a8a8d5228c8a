package dma.models.assemble;

import dma.models.Architecture;

import java.util.Arrays;

/**
 * A target model cut along its depth into K modules of consecutive blocks (DESIGN §6.1). Module 0
 * also owns the stem, module K−1 the head. It names every key's owner and translates keys between
 * the target, the meta model (one block per module) and the hybrid of module i (the meta model with
 * its i-th block replaced by the target's module i).
 */
public final class Partition {
    private final Architecture target;
    private final int[] depths;
    private final int[] offsets;

    private Partition(Architecture target, int[] depths) {
        target.checkPartition(depths);
        this.target = target;
        this.depths = depths.clone();
        this.offsets = new int[depths.length];
        for (int i = 1; i < depths.length; i++) offsets[i] = offsets[i - 1] + depths[i - 1];
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

    public Architecture target() { return target; }
    public int modules() { return depths.length; }
    public int[] depths() { return depths.clone(); }
    public int offset(int module) { return offsets[module]; }

    /** One block per module. */
    public Architecture meta() {
        int[] ones = new int[depths.length];
        Arrays.fill(ones, 1);
        return target.withModuleDepths(ones);
    }

    /** The meta model with block i replaced by the target's module i. */
    public Architecture hybrid(int i) {
        checkModule(i);
        int[] d = new int[depths.length];
        Arrays.fill(d, 1);
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

    /** The module a key of hybrid(i) belongs to: i for its target blocks (and stem/head at the ends), else the meta block's. */
    public int moduleOfHybrid(int i, String hybridKey) {
        int b = hybrid(i).blockOf(hybridKey);
        if (b == Architecture.STEM) return 0;
        if (b == Architecture.HEAD) return depths.length - 1;
        if (b < i) return b;
        if (b < i + depths[i]) return i;
        return b - depths[i] + 1;
    }

    /** A key of hybrid(i) outside module i → the meta model's key. */
    public String metaKeyOfHybrid(int i, String hybridKey) {
        Architecture h = hybrid(i);
        int b = h.blockOf(hybridKey);
        if (b < 0) return hybridKey;
        if (b >= i && b < i + depths[i]) throw new IllegalArgumentException("'" + hybridKey + "' belongs to module " + i + ", not to the meta model");
        int metaBlock = b < i ? b : b - depths[i] + 1;
        return meta().keyInBlock(metaBlock, h.suffixInBlock(hybridKey));
    }

    /** A key of module i in hybrid(i) → the target model's (global) key. */
    public String targetKeyOfHybrid(int i, String hybridKey) {
        Architecture h = hybrid(i);
        int b = h.blockOf(hybridKey);
        if (b < 0) return hybridKey;
        if (b < i || b >= i + depths[i]) throw new IllegalArgumentException("'" + hybridKey + "' is a meta block, not part of module " + i);
        return target.keyInBlock(offsets[i] + b - i, h.suffixInBlock(hybridKey));
    }

    private void checkModule(int i) {
        if (i < 0 || i >= depths.length) throw new IllegalArgumentException("module " + i + " does not exist: modules are 0.." + (depths.length - 1));
    }

    @Override
    public String toString() {
        return target.family() + " cut into " + depths.length + " modules of " + Arrays.toString(depths) + " blocks";
    }
}
