package dma.engine;

/**
 * A seeded generator of seeds: each call to {@link #nextSeed()} gives a fresh stream for one op
 * (an initialization, a dropout mask). Same seed, same sequence of calls → same numbers.
 */
public final class Rng {
    private final long seed;
    private long counter;

    public Rng(long seed) {
        this.seed = seed;
    }

    public long nextSeed() {
        return CounterRng.derive(seed, counter++);
    }

    /** A uniform float in [0, 1) for host-side decisions (augmentation, shuffling). */
    public float nextFloat() {
        return CounterRng.uniform(seed, (1L << 62) + counter++);
    }

    public int nextInt(int bound) {
        return (int) Math.floorMod(CounterRng.bits(seed, (1L << 62) + counter++), (long) bound);
    }
}
