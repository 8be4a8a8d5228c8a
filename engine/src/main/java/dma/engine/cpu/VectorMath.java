package dma.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Elementary functions on float vectors from adds, multiplies, fused multiply-adds, min/max and bit moves only. Not
 * the Vector API's EXP and friends: those are SVML's once the JIT has compiled a loop and Math's before, which differ
 * in the last bit, so the same training step would give different bits early and late in a run. Every operation used
 * here is exact or correctly rounded on both paths.
 */
final class VectorMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final FloatVector LOG2E = FloatVector.broadcast(S, 1.44269504f), ROUND = FloatVector.broadcast(S, 12582912f);
    private static final FloatVector LN2_HI = FloatVector.broadcast(S, -0.693359375f), LN2_LO = FloatVector.broadcast(S, 2.12194440e-4f);

    private VectorMath() {}

    /**
     * e^x for x ≤ 0 (Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n built in the
     * exponent bits; within 2 ulp); arguments below −87 give about 1e-38 instead of less.
     */
    static FloatVector expNonPositive(FloatVector x) {
        x = x.max(-87f);
        FloatVector t = x.fma(LOG2E, ROUND), n = t.sub(ROUND); // n = round(x·log2 e), by the 1.5·2²³ trick
        FloatVector r = n.fma(LN2_HI, x);
        r = n.fma(LN2_LO, r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        FloatVector y = p.mul(r).fma(r, r).add(1f);
        // 2^n: n sits in the low mantissa bits of t = 1.5·2²³ + n
        FloatVector scale = t.reinterpretAsInts().sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(scale);
    }

    /** erf, the rational form of {@link CpuElementwise#erf} (|error| &lt; 4e-7) with fused multiply-adds. */
    static FloatVector erf(FloatVector x) {
        FloatVector c = x.max(-4f).min(4f), x2 = c.mul(c);
        FloatVector p = x2.fma(-2.72614225801306e-10f, 2.77068142495902e-08f);
        p = p.fma(x2, FloatVector.broadcast(S, -2.10102402082508e-06f));
        p = p.fma(x2, FloatVector.broadcast(S, -5.69250639462346e-05f));
        p = p.fma(x2, FloatVector.broadcast(S, -7.34990630326855e-04f));
        p = p.fma(x2, FloatVector.broadcast(S, -2.95459980854025e-03f));
        p = p.fma(x2, FloatVector.broadcast(S, -1.60960333262415e-02f));
        FloatVector q = x2.fma(-1.45660718464996e-05f, -2.13374055278905e-04f);
        q = q.fma(x2, FloatVector.broadcast(S, -1.68282697438203e-03f));
        q = q.fma(x2, FloatVector.broadcast(S, -7.37332916720468e-03f));
        q = q.fma(x2, FloatVector.broadcast(S, -1.42647390514189e-02f));
        return c.mul(p).div(q);
    }
}
