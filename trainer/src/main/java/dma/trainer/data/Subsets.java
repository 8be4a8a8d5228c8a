package dma.trainer.data;

import dma.engine.CounterRng;
import dma.engine.Rng;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Class-balanced subsets, deterministic given the seed: the images of each class are shuffled by a
 * stream derived from (seed, class), so a class's choice does not depend on the other classes.
 */
public final class Subsets {
    private Subsets() {}

    /** Per class, round(fraction · count) images chosen at random; the indices in ascending order. */
    public static int[] classBalanced(Dataset d, double fraction, long seed) {
        if (!(fraction >= 0 && fraction <= 1)) throw new IllegalArgumentException("fraction " + fraction + " is outside [0, 1]");
        int[][] byClass = shuffledByClass(d, seed);
        int total = 0;
        for (int[] c : byClass) total += (int) Math.round(fraction * c.length);
        int[] out = new int[total];
        int n = 0;
        for (int[] c : byClass) {
            int take = (int) Math.round(fraction * c.length);
            System.arraycopy(c, 0, out, n, take);
            n += take;
        }
        Arrays.sort(out);
        return out;
    }

    /**
     * DistData (§6.5): k disjoint shards that together cover the set. Each class's shuffled images are dealt
     * round-robin, each class starting where the previous one stopped, so every shard holds ⌊count/k⌋ or
     * ⌈count/k⌉ images of every class and the shard sizes differ by at most one. Each shard is sorted.
     */
    public static int[][] distData(Dataset d, int k, long seed) {
        if (k < 1) throw new IllegalArgumentException("number of shards " + k + " must be at least 1");
        List<List<Integer>> shards = new ArrayList<>();
        for (int s = 0; s < k; s++) shards.add(new ArrayList<>());
        int next = 0;
        for (int[] c : shuffledByClass(d, seed))
            for (int i : c) {
                shards.get(next).add(i);
                next = (next + 1) % k;
            }
        int[][] out = new int[k][];
        for (int s = 0; s < k; s++) {
            out[s] = shards.get(s).stream().mapToInt(Integer::intValue).toArray();
            Arrays.sort(out[s]);
        }
        return out;
    }

    /** The indices of each class, in a seeded random order. */
    private static int[][] shuffledByClass(Dataset d, long seed) {
        int[] counts = new int[d.classes()];
        for (int i = 0; i < d.size(); i++) counts[d.label(i)]++;
        int[][] byClass = new int[d.classes()][];
        for (int c = 0; c < byClass.length; c++) byClass[c] = new int[counts[c]];
        Arrays.fill(counts, 0);
        for (int i = 0; i < d.size(); i++) byClass[d.label(i)][counts[d.label(i)]++] = i;
        for (int c = 0; c < byClass.length; c++) shuffle(byClass[c], new Rng(CounterRng.derive(seed, c)));
        return byClass;
    }

    /** Fisher–Yates. */
    static void shuffle(int[] a, Rng rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1), t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
