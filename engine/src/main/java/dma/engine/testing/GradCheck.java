package dma.engine.testing;

import dma.engine.CounterRng;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.ops.ElementwiseOps;
import dma.engine.ops.ReductionsOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Checks an op's backward against float64 central finite differences. The op's output is reduced
 * to a scalar L = Σ out ⊙ R with a fixed random R (so every output element matters); the analytic
 * gradient comes from backward, the numerical one from (L(x + h) − L(x − h)) / 2h with L summed in
 * double on the host, for every element of small inputs and a random sample of large ones.
 */
public final class GradCheck {
    private final double step;
    private final double atol;
    private final double rtol;
    private final int maxElements;

    public GradCheck(double step, double atol, double rtol, int maxElements) {
        this.step = step;
        this.atol = atol;
        this.rtol = rtol;
        this.maxElements = maxElements;
    }

    /** Defaults for float32 ops of moderate size. */
    public static GradCheck standard() {
        return new GradCheck(3e-3, 2e-3, 2e-2, 120);
    }

    /** One mismatch, for the failure message. */
    public record Mismatch(int input, int index, double analytic, double numeric) {}

    /**
     * Runs the check; throws AssertionError naming the op, input, element and both values on failure.
     * Inputs that require a gradient are checked; the others are held fixed.
     */
    public void check(String op, Function<Tensor[], Tensor> f, Tensor... inputs) {
        List<Mismatch> bad = new ArrayList<>();
        int checked = 0;
        try (Scope scope = Scope.open()) {
            for (Tensor t : inputs) if (t.requiresGrad()) t.zeroGrad();
            Tensor out = f.apply(inputs);
            float[] r = projection(out.numel(), 12345);
            Tensor rt = Tensor.of(out.backend(), r, out.shape());
            Tensor loss = ReductionsOps.sumAll(ElementwiseOps.mul(out, rt));
            loss.backward();
            for (int ti = 0; ti < inputs.length; ti++) {
                Tensor x = inputs[ti];
                if (!x.requiresGrad()) continue;
                if (x.grad() == null) throw new AssertionError(op + ": input " + ti + " requires a gradient but backward gave none");
                float[] analytic = x.grad().toFloats();
                float[] values = x.toFloats();
                int n = values.length;
                int count = Math.min(n, maxElements);
                for (int c = 0; c < count; c++) {
                    int i = n <= maxElements ? c : (int) Math.floorMod(CounterRng.bits(777 + ti, c), (long) n);
                    float orig = values[i];
                    double h = step * Math.max(1.0, Math.abs(orig));
                    values[i] = (float) (orig + h);
                    double hp = values[i] - orig;          // the step float32 actually took
                    x.copyFrom(values);
                    double lp = evaluate(f, inputs, r);
                    values[i] = (float) (orig - h);
                    double hm = orig - values[i];
                    x.copyFrom(values);
                    double lm = evaluate(f, inputs, r);
                    values[i] = orig;
                    x.copyFrom(values);
                    double numeric = (lp - lm) / (hp + hm);
                    double a = analytic[i];
                    checked++;
                    if (!(Math.abs(a - numeric) <= atol + rtol * Math.max(Math.abs(numeric), Math.abs(a))))
                        bad.add(new Mismatch(ti, i, a, numeric));
                }
            }
        } finally {
            for (Tensor t : inputs) if (t.requiresGrad() && t.grad() != null) t.zeroGrad();
        }
        if (!bad.isEmpty()) {
            StringBuilder sb = new StringBuilder(op + ": " + bad.size() + " of " + checked + " gradient elements differ from finite differences:");
            for (Mismatch m : bad.subList(0, Math.min(8, bad.size())))
                sb.append(String.format("%n  input %d element %d: analytic %.6g, numeric %.6g", m.input, m.index, m.analytic, m.numeric));
            throw new AssertionError(sb.toString());
        }
        if (checked == 0) throw new AssertionError(op + ": no input requires a gradient, nothing was checked");
    }

    private static double evaluate(Function<Tensor[], Tensor> f, Tensor[] inputs, float[] r) {
        try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            float[] out = f.apply(inputs).toFloats();
            double acc = 0;
            for (int i = 0; i < out.length; i++) acc += (double) out[i] * r[i];
            return acc;
        }
    }

    /** Fixed pseudo-random weights in [-1, 1). */
    public static float[] projection(int n, long seed) {
        float[] r = new float[n];
        for (int i = 0; i < n; i++) r[i] = 2f * CounterRng.uniform(seed, i) - 1f;
        return r;
    }
}
