package dma.engine;

/**
 * Counter-based random numbers: the value at index i is a pure function of (seed, i), so results
 * do not depend on the thread count, the order of evaluation or the device. The mix is SplitMix64's
 * finalizer applied to seed and counter (a CUDA kernel computes the same bits).
 */
public final class CounterRng {
    private CounterRng() {}

    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public static long bits(long seed, long index) {
        return mix(mix(seed + 0x9E3779B97F4A7C15L) ^ (index * 0xD1B54A32D192ED03L));
    }

    /** Uniform in [0, 1) with 24 bits. */
    public static float uniform(long seed, long index) {
        return (bits(seed, index) >>> 40) * 0x1.0p-24f;
    }

    /** Standard normal by Box–Muller on the two halves of one 64-bit draw. */
    public static double normal(long seed, long index) {
        long b = bits(seed, index);
        double u1 = ((b >>> 40) + 1) * 0x1.0p-24;          // (0, 1]
        double u2 = ((b >>> 16) & 0xFFFFFF) * 0x1.0p-24;    // [0, 1)
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    /** Derives an independent stream's seed (for the next layer, step, or op). */
    public static long derive(long seed, long stream) {
        return mix(seed ^ mix(stream + 0x632BE59BD9B4E019L));
    }
}
