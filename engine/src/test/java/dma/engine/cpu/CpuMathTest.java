package dma.engine.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The float approximations behind GELU, against double-precision references over their whole range. */
class CpuMathTest {
    /** erf by its Taylor series (|x| ≤ 2) or continued fraction of erfc (|x| > 2), in double. */
    static double erfReference(double x) {
        double ax = Math.abs(x);
        double v;
        if (ax <= 2) {
            double term = ax, sum = ax;
            for (int n = 1; n < 60; n++) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            v = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            v = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return Math.copySign(v, x);
    }

    @Test
    void erfIsAccurateToAFewUlpOfOne() {
        double worst = 0;
        for (int i = -80000; i <= 80000; i++) {
            float x = i * 1e-4f;
            worst = Math.max(worst, Math.abs(CpuElementwise.erf(x) - erfReference(x)));
        }
        assertTrue(worst < 5e-7, "max |erf error| " + worst);
        assertEquals(1f, CpuElementwise.erf(30f));
        assertEquals(-1f, CpuElementwise.erf(-30f));
    }

    @Test
    void expOfNonPositiveArgumentsIsAccurate() {
        double worst = 0;
        for (int i = 0; i <= 320000; i++) {
            float y = -i * 1e-4f;
            double ref = Math.exp(y);
            worst = Math.max(worst, Math.abs(CpuElementwise.expNonPositive(y) - ref) / ref);
        }
        assertTrue(worst < 1e-5, "max relative exp error " + worst);
        assertEquals(1f, CpuElementwise.expNonPositive(0f));
        assertTrue(CpuElementwise.expNonPositive(-1000f) <= 1.3e-14f, "clamped at e^-32");
    }
}
