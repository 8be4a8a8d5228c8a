package dma.engine.ops;

import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.testing.GradCheck;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Comparisons the op tests share: a fused op against its composed form, a kernel against a double reference. */
final class OpChecks {
    private OpChecks() {}

    /** f's output and the gradients of Σ out ⊙ R (R fixed) with respect to each input; leaves the inputs' gradients zeroed. */
    static float[][] outputAndGradients(Function<Tensor[], Tensor> f, Tensor... inputs) {
        float[][] result = new float[inputs.length + 1][];
        try (Scope s = Scope.open()) {
            Tensor out = f.apply(inputs);
            result[0] = out.toFloats();
            out.mul(Tensor.of(out.backend(), GradCheck.projection(out.numel(), 4242), out.shape())).sumAll().backward();
            for (int i = 0; i < inputs.length; i++) result[i + 1] = inputs[i].grad().toFloats();
        } finally {
            for (Tensor t : inputs) t.zeroGrad();
        }
        return result;
    }

    /** ‖a − b‖ / ‖b‖; 0 where both are zero, infinite where only b is. */
    static double relativeError(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double diff = 0, ref = 0;
        for (int i = 0; i < a.length; i++) {
            diff += Math.pow((double) a[i] - b[i], 2);
            ref += (double) b[i] * b[i];
        }
        if (ref == 0) return diff == 0 ? 0 : Double.POSITIVE_INFINITY; // an all-zero expectation must be met exactly
        return Math.sqrt(diff / ref);
    }

    /**
     * Each element within 1e-6·(1 + Σ|terms|) of the double reference: float32 sums of k terms round to about
     * √k·2⁻²⁴·Σ|terms| (k·2⁻²⁴·Σ|terms| at worst), while an indexing mistake is off by a whole term.
     */
    static void assertClose(double[] expected, double[] absSum, float[] actual, String what) {
        assertClose(expected, absSum, actual, 1e-6, what);
    }

    /** Each element within tol·(1 + Σ|terms|) of the double reference. */
    static void assertClose(double[] expected, double[] absSum, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++)
            assertEquals(expected[i], actual[i], tol * (1 + absSum[i]), what + ", element " + i);
    }
}
