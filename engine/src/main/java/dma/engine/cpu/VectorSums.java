package dma.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Sums over a staged block, in float vector lanes, returned in double. A scalar {@code double acc += a[i]} cannot be
 * vectorized (reordering changes the result) and runs one add per four cycles; these run a vector of adds per cycle.
 * Callers keep blocks short (a plane of an image, ≤ a few thousand values) and add the block sums in double, so the
 * float lanes never sum more than len / lanes values each.
 */
final class VectorSums {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private VectorSums() {}

    /** Σ a[from + i] for i &lt; len. */
    static double sum(float[] a, int from, int len) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += S.length()) acc = acc.add(FloatVector.fromArray(S, a, from + i));
        double s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) s += a[from + i];
        return s;
    }

    /** Σ (a[from + i] − mean)² for i &lt; len. */
    static double squaredDeviations(float[] a, int from, float mean, int len) {
        FloatVector acc = FloatVector.zero(S), m = FloatVector.broadcast(S, mean);
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += S.length()) {
            FloatVector d = FloatVector.fromArray(S, a, from + i).sub(m);
            acc = d.fma(d, acc);
        }
        double s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) s += (double) (a[from + i] - mean) * (a[from + i] - mean);
        return s;
    }

    /** Σ g[from + i]·(x[from + i] − mean) for i &lt; len. */
    static double centeredDot(float[] g, float[] x, int from, float mean, int len) {
        FloatVector acc = FloatVector.zero(S), m = FloatVector.broadcast(S, mean);
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += S.length())
            acc = FloatVector.fromArray(S, x, from + i).sub(m).fma(FloatVector.fromArray(S, g, from + i), acc);
        double s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) s += (double) g[from + i] * (x[from + i] - mean);
        return s;
    }
}
