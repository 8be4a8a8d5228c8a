package dma.engine.ops;

import dma.engine.CounterRng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;
import dma.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.Function;

import static dma.engine.ops.TestTensors.param;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused losses, fused attention and optimizer updates: float64 finite-difference gradient checks,
 * agreement with the composed forms they replace, and the optimizers against float64 references.
 */
class LossAttentionOptimTest extends EveryBackend {
    private final GradCheck check = GradCheck.standard();
    /**
     * For scalar losses: GradCheck weights the single output by a fixed factor (about −0.4), which shrinks the
     * gradients, so the standard absolute floor of 2e-3 would hide errors of the size of a smoothing term.
     */
    private final GradCheck lossCheck = new GradCheck(3e-3, 5e-5, 1e-2, 200);

    // ------------------------------------------------------------------ cross-entropy

    @Test
    void crossEntropySoftTargetsGradient() {
        int rows = 5, classes = 7;
        for (float smoothing : new float[]{0f, 0.1f}) {
            Tensor logits = leaf(11, -2f, 2f, true, rows, classes);
            Tensor targets = softTargets(12, rows, classes);
            lossCheck.check("crossEntropy soft s=" + smoothing, x -> LossesOps.crossEntropy(x[0], x[1], smoothing), logits, targets);
            assertEquals(crossEntropyReference(logits.toFloats(), targets.toFloats(), rows, classes, smoothing),
                    scalar(() -> LossesOps.crossEntropy(logits, targets, smoothing)), 1e-5);
        }
    }

    @Test
    void crossEntropyHardLabelsGradient() {
        int rows = 5, classes = 7;
        int[] labels = {3, 0, 6, 3, 1};
        float[] oneHot = new float[rows * classes];
        for (int r = 0; r < rows; r++) oneHot[r * classes + labels[r]] = 1f;
        for (float smoothing : new float[]{0f, 0.1f}) {
            Tensor logits = leaf(13, -2f, 2f, true, rows, classes);
            lossCheck.check("crossEntropy labels s=" + smoothing, x -> LossesOps.crossEntropy(x[0], labels, smoothing), logits);
            assertEquals(crossEntropyReference(logits.toFloats(), oneHot, rows, classes, smoothing),
                    scalar(() -> LossesOps.crossEntropy(logits, labels, smoothing)), 1e-5);
        }
    }

    @Test
    void crossEntropyMatchesComposedForm() {
        int rows = 6, classes = 11;
        for (float smoothing : new float[]{0f, 0.1f}) {
            Tensor logits = leaf(14, -4f, 4f, true, rows, classes);
            Tensor targets = softTargets(15, rows, classes);
            float[] smoothed = smooth(targets.toFloats(), classes, smoothing);
            float[] proj = {1.7f}; // any upstream gradient: the fused backward must use it
            Result fused = run(x -> LossesOps.crossEntropy(x[0], targets, smoothing), proj, logits);
            Result composed = run(x -> {
                // −(1/R)·Σ t'·log(softmax(x))
                Tensor t = Tensor.of(be, smoothed, rows, classes);
                return log(ReductionsOps.softmax(x[0])).mul(t).sumAll().scale(-1f / rows);
            }, proj, logits);
            assertClose("crossEntropy forward s=" + smoothing, composed.out, fused.out, 1e-5);
            assertClose("crossEntropy gradient s=" + smoothing, composed.grads[0], fused.grads[0], 1e-5);
        }
    }

    @Test
    void crossEntropyIsStableForLargeLogits() {
        Tensor logits = Scope.persistent(() -> Tensor.of(be, new float[]{1000f, 0f, -1000f, 0f, 0f, 0f}, 2, 3).requiresGrad(true));
        Result r = run(x -> LossesOps.crossEntropy(x[0], new int[]{1, 2}, 0f), new float[]{1f}, logits);
        // row 0: logsumexp = 1000, target logit 0; row 1: uniform, log 3
        assertEquals((1000.0 + Math.log(3)) / 2, r.out[0], 1e-3);
        assertArrayEquals(new float[]{0.5f, -0.5f, 0f, 1f / 6, 1f / 6, -1f / 3}, r.grads[0], 1e-6f);
    }

    @Test
    void crossEntropyValidatesItsInputs() {
        Tensor logits = leaf(16, -1f, 1f, true, 3, 4);
        var bad = assertThrows(IllegalArgumentException.class, () -> LossesOps.crossEntropy(logits, new int[]{0, 4, 1}, 0f));
        assertTrue(bad.getMessage().contains("label 4") && bad.getMessage().contains("row 1"), bad.getMessage());
        var neg = assertThrows(IllegalArgumentException.class, () -> LossesOps.crossEntropy(logits, new int[]{0, 1, -1}, 0f));
        assertTrue(neg.getMessage().contains("label -1") && neg.getMessage().contains("row 2"), neg.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LossesOps.crossEntropy(logits, new int[]{0, 1}, 0f));
        Tensor trainableTargets = softTargets(17, 3, 4).requiresGrad(true);
        assertThrows(IllegalArgumentException.class, () -> LossesOps.crossEntropy(logits, trainableTargets, 0f));
    }

    // ------------------------------------------------------------------ L1

    @Test
    void l1GradientForBothInputs() {
        int[] shape = {5, 7};
        Tensor a = leaf(21, -1f, 1f, true, shape);
        float[] av = a.toFloats(), bv = awayFrom(av, 22);
        Tensor b = Scope.persistent(() -> Tensor.of(be, bv, shape).requiresGrad(true));
        lossCheck.check("l1", x -> LossesOps.l1(x[0], x[1]), a, b);
        Tensor frozenB = Scope.persistent(() -> Tensor.of(be, bv, shape));
        lossCheck.check("l1 frozen b", x -> LossesOps.l1(x[0], x[1]), a, frozenB);
        lossCheck.check("l1 frozen a", x -> LossesOps.l1(x[1], x[0]), a, frozenB);
        double ref = 0;
        for (int i = 0; i < av.length; i++) ref += Math.abs((double) av[i] - bv[i]);
        assertEquals(ref / av.length, scalar(() -> LossesOps.l1(a, b)), 1e-6);
    }

    @Test
    void lossBackwardsAccumulateIntoSharedGradients() {
        // backward runs the last op first: in ce + l1 the l1 gradient lands first and ce must add to it, and the other way round
        int rows = 5, classes = 7;
        Tensor x = leaf(26, -2f, 2f, true, rows, classes), targets = softTargets(27, rows, classes);
        Tensor b = Scope.persistent(() -> Tensor.of(be, awayFrom(x.toFloats(), 28), rows, classes));
        lossCheck.check("ce(x) + l1(x, b)", t -> LossesOps.crossEntropy(t[0], targets, 0.1f).add(LossesOps.l1(t[0], b)), x);
        lossCheck.check("l1(x, b) + ce(x)", t -> LossesOps.l1(t[0], b).add(LossesOps.crossEntropy(t[0], targets, 0.1f)), x);
        lossCheck.check("l1(b, x) + ce(x)", t -> LossesOps.l1(b, t[0]).add(LossesOps.crossEntropy(t[0], targets, 0.1f)), x);
    }

    @Test
    void l1OfLargeInputMatchesDoubleReference() {
        // an odd size over several chunks of the parallel sum
        int n = 50_001;
        Tensor a = leaf(24, -1f, 1f, false, n), b = leaf(25, -1f, 1f, false, n);
        float[] av = a.toFloats(), bv = b.toFloats();
        double ref = 0;
        for (int i = 0; i < n; i++) ref += Math.abs((double) av[i] - bv[i]);
        assertEquals(ref / n, scalar(() -> LossesOps.l1(a, b)), 1e-6);
    }

    // ------------------------------------------------------------------ attention

    @Test
    void fusedAttentionGradient() {
        for (int[] shape : new int[][]{{2, 3, 5, 4}, {2, 3, 1, 4}, {3, 6}}) {
            Tensor q = param(be, shape), k = param(be, shape), v = param(be, shape);
            float scale = (float) (1 / Math.sqrt(shape[shape.length - 1]));
            check.check("attention " + java.util.Arrays.toString(shape), x -> AttentionOps.attention(x[0], x[1], x[2], scale), q, k, v);
        }
        // one tensor as q, k, v and a residual: the residual's gradient lands first, and the three attention
        // gradients must add to it in the same buffer (backward accumulates, never overwrites)
        Tensor x = param(be, 2, 4, 3);
        check.check("x + attention(x, x, x)", t -> AttentionOps.attention(t[0], t[0], t[0], 0.8f).add(t[0]), x);
    }

    @Test
    void fusedAttentionMatchesComposed() {
        // the last shape has enough work per entry to run its four entries on several threads
        for (int[] shape : new int[][]{{2, 3, 5, 4}, {2, 2, 1, 3}, {1, 7, 9, 5}, {2, 2, 64, 16}}) {
            Tensor q = leaf(31, -2f, 2f, true, shape), k = leaf(32, -2f, 2f, true, shape), v = leaf(33, -1f, 1f, true, shape);
            float scale = (float) (1 / Math.sqrt(shape[shape.length - 1]));
            float[] proj = GradCheck.projection(Tensor.numel(shape), 34);
            Result fused = run(x -> AttentionOps.attention(x[0], x[1], x[2], scale), proj, q, k, v);
            Result composed = run(x -> AttentionOps.attentionComposed(x[0], x[1], x[2], scale), proj, q, k, v);
            String s = java.util.Arrays.toString(shape);
            assertClose("attention forward " + s, composed.out, fused.out, 1e-5);
            assertClose("attention dq " + s, composed.grads[0], fused.grads[0], 1e-5);
            assertClose("attention dk " + s, composed.grads[1], fused.grads[1], 1e-5);
            assertClose("attention dv " + s, composed.grads[2], fused.grads[2], 1e-5);
        }
    }

    /**
     * Attention of qkv [3, ..., t, d] read in place equals attention of its three parts copied out, output and qkv's
     * gradient bit for bit (the same kernels at offsets); and its gradient passes the float64 check.
     */
    @Test
    void packedAttentionIsAttentionOfTheThreeParts() {
        for (int[] shape : new int[][]{{3, 2, 3, 5, 4}, {3, 1, 7, 9, 5}}) {
            Tensor qkv = leaf(41, -2f, 2f, true, shape);
            int[] part = java.util.Arrays.copyOfRange(shape, 1, shape.length);
            float scale = (float) (1 / Math.sqrt(shape[shape.length - 1]));
            float[] proj = GradCheck.projection(Tensor.numel(part), 42);
            Result packed = run(x -> AttentionOps.attentionPacked(x[0], scale), proj, qkv);
            Result parts = run(x -> AttentionOps.attention(LayoutOps.slice(x[0], 0, 0, 1).reshape(part), LayoutOps.slice(x[0], 0, 1, 1).reshape(part),
                    LayoutOps.slice(x[0], 0, 2, 1).reshape(part), scale), proj, qkv);
            String s = java.util.Arrays.toString(shape);
            assertArrayEquals(parts.out, packed.out, "packed attention output " + s);
            assertArrayEquals(parts.grads[0], packed.grads[0], "packed attention gradient " + s);
        }
        Tensor qkv = param(be, 3, 2, 4, 3);
        check.check("attentionPacked", x -> AttentionOps.attentionPacked(x[0], 0.6f), qkv);
        var e = assertThrows(IllegalArgumentException.class, () -> AttentionOps.attentionPacked(param(be, 2, 4, 3), 1f));
        assertTrue(e.getMessage().contains("[3, ..., t, d]") && e.getMessage().contains("[2, 4, 3]"), e.getMessage());
    }

    /** The fused kernel against the composed form at the ViT study's sizes: t = 17, 50, 65; head dims 12, 16, 32; entries not a multiple of the threads. */
    @Test
    void fusedAttentionMatchesComposedAtStudySizes() {
        for (int[] shape : new int[][]{{3, 3, 50, 16}, {1, 5, 65, 12}, {2, 3, 17, 32}, {1, 1, 3, 7}}) {
            Tensor q = leaf(51, -2f, 2f, true, shape), k = leaf(52, -2f, 2f, true, shape), v = leaf(53, -1f, 1f, true, shape);
            float scale = (float) (1 / Math.sqrt(shape[shape.length - 1]));
            float[] proj = GradCheck.projection(Tensor.numel(shape), 54);
            Result fused = run(x -> AttentionOps.attention(x[0], x[1], x[2], scale), proj, q, k, v);
            Result composed = run(x -> AttentionOps.attentionComposed(x[0], x[1], x[2], scale), proj, q, k, v);
            String s = java.util.Arrays.toString(shape);
            assertClose("attention forward " + s, composed.out, fused.out, 1e-5);
            for (int i = 0; i < 3; i++) assertClose("attention gradient " + i + " " + s, composed.grads[i], fused.grads[i], 1e-5);
        }
    }

    /**
     * Multi-head attention on the linears' layouts ([b, t, 3·h·d] in, [b, t, h·d] out) against the composed form on
     * the permuted parts (reshape, permute, batched matmuls, softmax, permute back), output and qkv's gradient, at odd
     * sizes: t = 17, 50, 65, head dims 12, 16, 32, b·heads not a multiple of the thread count.
     */
    @Test
    void multiHeadMatchesComposedPermutedForm() {
        for (int[] c : new int[][]{{3, 50, 3, 16}, {1, 65, 5, 12}, {2, 17, 3, 32}, {5, 9, 1, 5}, {2, 1, 2, 4}}) {
            int b = c[0], t = c[1], h = c[2], d = c[3];
            Tensor qkv = leaf(61, -2f, 2f, true, b, t, 3 * h * d);
            float scale = (float) (1 / Math.sqrt(d));
            float[] proj = GradCheck.projection(b * t * h * d, 62);
            Result fused = run(x -> AttentionOps.multiHead(x[0], h, scale), proj, qkv);
            Result composed = run(x -> {
                Tensor split = x[0].reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4);
                int[] part = {b, h, t, d};
                Tensor o = AttentionOps.attentionComposed(LayoutOps.slice(split, 0, 0, 1).reshape(part),
                        LayoutOps.slice(split, 0, 1, 1).reshape(part), LayoutOps.slice(split, 0, 2, 1).reshape(part), scale);
                return o.permute(0, 2, 1, 3).reshape(b, t, h * d);
            }, proj, qkv);
            String s = java.util.Arrays.toString(c);
            assertClose("multiHead forward " + s, composed.out, fused.out, 1e-5);
            assertClose("multiHead gradient " + s, composed.grads[0], fused.grads[0], 1e-5);
            // and the [3, b, h, t, d] entry point on the same parts gives the same bits
            Result packed = run(x -> AttentionOps.attentionPacked(x[0].reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4), scale)
                    .permute(0, 2, 1, 3).reshape(b, t, h * d), proj, qkv);
            assertArrayEquals(packed.out, fused.out, "multiHead vs attentionPacked output " + s);
            assertArrayEquals(packed.grads[0], fused.grads[0], "multiHead vs attentionPacked gradient " + s);
        }
    }

    /**
     * multiHead's float64 gradient check; and with qkv also used elsewhere, so its gradient exists when the
     * attention's backward runs (added to) or does not yet (written), in both orders.
     */
    @Test
    void multiHeadGradient() {
        for (int[] c : new int[][]{{2, 5, 3, 4}, {3, 4, 1, 3}, {1, 6, 2, 5}}) {
            int b = c[0], t = c[1], h = c[2], d = c[3];
            Tensor qkv = param(be, b, t, 3 * h * d);
            float scale = (float) (1 / Math.sqrt(d));
            String s = java.util.Arrays.toString(c);
            check.check("multiHead " + s, x -> AttentionOps.multiHead(x[0], h, scale), qkv);
            check.check("multiHead + slice " + s, x -> AttentionOps.multiHead(x[0], h, scale).add(LayoutOps.slice(x[0], 2, h * d, h * d)), qkv);
            check.check("slice + multiHead " + s, x -> LayoutOps.slice(x[0], 2, 0, h * d).add(AttentionOps.multiHead(x[0], h, scale)), qkv);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> AttentionOps.multiHead(param(be, 2, 4, 10), 2, 1f));
        assertTrue(e.getMessage().contains("3·heads·head_dim") && e.getMessage().contains("[2, 4, 10]"), e.getMessage());
    }

    @Test
    void fusedAttentionSkipsFrozenInputs() {
        int[] shape = {2, 4, 3};
        Tensor q = leaf(35, -1f, 1f, true, shape), k = leaf(36, -1f, 1f, false, shape), v = leaf(37, -1f, 1f, true, shape);
        check.check("attention frozen k", x -> AttentionOps.attention(x[0], x[1], x[2], 0.5f), q, k, v);
        assertNull(k.grad());
        assertThrows(IllegalArgumentException.class, () -> AttentionOps.attention(q, leaf(38, -1f, 1f, false, 2, 5, 3), v, 1f));
    }

    // ------------------------------------------------------------------ optimizers

    @Test
    void adamwMatchesTorchAlgorithmInDouble() {
        int n = 40_001; // odd and over several parallel chunks
        float lr = 0.05f, beta1 = 0.9f, beta2 = 0.99f, eps = 1e-4f, wd = 0.1f;
        Tensor p = leaf(41, -1f, 1f, true, n);
        Tensor m = Scope.persistent(() -> Tensor.zeros(be, n)), v = Scope.persistent(() -> Tensor.zeros(be, n));
        double[] rp = toDouble(p.toFloats()), rm = new double[n], rv = new double[n];
        for (int step = 1; step <= 3; step++) {
            float[] g = uniform(42 + step, n, -1f, 1f);
            Autograd.gradOf(p).copyFrom(g);
            OptimOps.adamw(p, m, v, lr, beta1, beta2, eps, wd, step);
            // torch.optim.AdamW, as documented: decay, moments, bias-corrected step
            double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
            for (int i = 0; i < n; i++) {
                rp[i] -= (double) lr * wd * rp[i];
                rm[i] = beta1 * rm[i] + (1 - (double) beta1) * g[i];
                rv[i] = beta2 * rv[i] + (1 - (double) beta2) * g[i] * g[i];
                double mHat = rm[i] / bc1, vHat = rv[i] / bc2;
                rp[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
            assertClose("adamw param after step " + step, rp, p.toFloats(), 1e-6);
            assertClose("adamw m after step " + step, rm, m.toFloats(), 1e-6);
            assertClose("adamw v after step " + step, rv, v.toFloats(), 1e-6);
        }
        // no gradient: nothing moves
        Tensor noGrad = leaf(49, -1f, 1f, true, 5);
        float[] before = noGrad.toFloats();
        OptimOps.adamw(noGrad, Tensor.zeros(be, 5), Tensor.zeros(be, 5), lr, beta1, beta2, eps, wd, 1);
        assertArrayEquals(before, noGrad.toFloats());
    }

    @Test
    void sgdMomentumMatchesReference() {
        int n = 40_001;
        float lr = 0.1f, momentum = 0.9f, wd = 0.01f;
        for (boolean nesterov : new boolean[]{false, true}) {
            Tensor p = leaf(51, -1f, 1f, true, n);
            // garbage in the buffer: the first step must not read it
            Tensor buf = leaf(52, 5f, 6f, false, n);
            double[] rp = toDouble(p.toFloats()), rb = new double[n];
            for (int step = 1; step <= 3; step++) {
                float[] g = uniform(53 + step, n, -1f, 1f);
                Autograd.gradOf(p).copyFrom(g);
                OptimOps.sgd(p, buf, lr, momentum, wd, nesterov, step == 1);
                for (int i = 0; i < n; i++) {
                    double d = g[i] + (double) wd * rp[i];
                    rb[i] = step == 1 ? d : momentum * rb[i] + d;
                    rp[i] -= lr * (nesterov ? d + momentum * rb[i] : rb[i]);
                }
                assertClose("sgd nesterov=" + nesterov + " param after step " + step, rp, p.toFloats(), 1e-6);
                assertClose("sgd nesterov=" + nesterov + " buffer after step " + step, rb, buf.toFloats(), 1e-6);
            }
        }
        // plain SGD needs no buffer
        Tensor p = leaf(59, -1f, 1f, true, 4);
        float[] before = p.toFloats(), g = {1f, -2f, 0.5f, 0f};
        Autograd.gradOf(p).copyFrom(g);
        OptimOps.sgd(p, null, 0.1f, 0f, 0f, false, true);
        float[] after = p.toFloats();
        for (int i = 0; i < 4; i++) assertEquals(before[i] - 0.1 * g[i], after[i], 1e-6);
    }

    @Test
    void globalGradNormMatchesDoubleReference() {
        // sizes straddling the parallel chunking, one odd; one parameter without a gradient
        int[] sizes = {7, 40_001, 32_768};
        List<Tensor> params = new java.util.ArrayList<>();
        double sumSq = 0;
        for (int i = 0; i < sizes.length; i++) {
            Tensor p = leaf(61 + i, -1f, 1f, true, sizes[i]);
            float[] g = uniform(71 + i, sizes[i], -2f, 2f);
            Autograd.gradOf(p).copyFrom(g);
            for (float x : g) sumSq += (double) x * x;
            params.add(p);
        }
        params.add(leaf(69, -1f, 1f, true, 3));
        assertEquals(Math.sqrt(sumSq), OptimOps.globalGradNorm(params), Math.sqrt(sumSq) * 1e-9);
    }

    @Test
    void clipGradNormScalesLargeGradientsAndLeavesSmallOnes() {
        Tensor a = leaf(81, -1f, 1f, true, 13), b = leaf(82, -1f, 1f, true, 2, 9);
        float[] ga = uniform(83, 13, -3f, 3f), gb = uniform(84, 18, -3f, 3f);
        Autograd.gradOf(a).copyFrom(ga);
        Autograd.gradOf(b).copyFrom(gb);
        List<Tensor> params = List.of(a, b);
        double norm = OptimOps.globalGradNorm(params);
        assertTrue(norm > 2, "test premise: the gradients are larger than the limit, norm " + norm);
        assertEquals(norm, OptimOps.clipGradNorm(params, 1.0), 0.0, "returns the norm before clipping");
        assertEquals(1.0, OptimOps.globalGradNorm(params), 1e-5);
        double coef = 1.0 / (norm + 1e-6);
        float[] ca = a.grad().toFloats(), cb = b.grad().toFloats();
        for (int i = 0; i < 13; i++) assertEquals(ga[i] * coef, ca[i], 1e-6, "every gradient scaled by the same factor");
        for (int i = 0; i < 18; i++) assertEquals(gb[i] * coef, cb[i], 1e-6);

        // under the limit: untouched, bit for bit
        double small = OptimOps.clipGradNorm(params, 5.0);
        assertEquals(1.0, small, 1e-5);
        assertArrayEquals(ca, a.grad().toFloats());
        assertArrayEquals(cb, b.grad().toFloats());
    }

    // ------------------------------------------------------------------ helpers

    /** Forward output and input gradients of one evaluation, with Σ out ⊙ proj as the loss. */
    private record Result(float[] out, float[][] grads) {}

    private Result run(Function<Tensor[], Tensor> f, float[] proj, Tensor... inputs) {
        try (Scope s = Scope.open()) {
            for (Tensor t : inputs) t.zeroGrad();
            Tensor out = f.apply(inputs);
            float[] values = out.toFloats();
            out.mul(Tensor.of(be, proj, out.shape())).sumAll().backward();
            float[][] grads = new float[inputs.length][];
            for (int i = 0; i < inputs.length; i++) {
                grads[i] = inputs[i].grad().toFloats();
                inputs[i].zeroGrad();
            }
            return new Result(values, grads);
        }
    }

    /**
     * log(x) elementwise as a recorded op, computed on the host in double: the engine has no log op, and the
     * composed cross-entropy needs one. Backward: grad += g / x.
     */
    private Tensor log(Tensor x) {
        float[] xv = x.toFloats(), y = new float[xv.length];
        for (int i = 0; i < xv.length; i++) y[i] = (float) Math.log(xv[i]);
        return Autograd.record("log", Tensor.of(be, y, x.shape()), new Tensor[]{x}, g -> {
            Tensor gx = Autograd.gradOf(x);
            if (gx == null) return;
            float[] gv = g.toFloats(), acc = gx.toFloats();
            for (int i = 0; i < acc.length; i++) acc[i] += (float) (gv[i] / xv[i]);
            gx.copyFrom(acc);
        });
    }

    /** −(1/R)·Σ_r Σ_j t'_rj·log softmax(x_r)_j in double. */
    private static double crossEntropyReference(float[] logits, float[] targets, int rows, int classes, float smoothing) {
        double total = 0;
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < classes; j++) max = Math.max(max, logits[r * classes + j]);
            for (int j = 0; j < classes; j++) sum += Math.exp(logits[r * classes + j] - max);
            double lse = max + Math.log(sum);
            for (int j = 0; j < classes; j++) {
                double t = targets[r * classes + j] * (1.0 - smoothing) + (double) smoothing / classes;
                total -= t * (logits[r * classes + j] - lse);
            }
        }
        return total / rows;
    }

    private static float[] smooth(float[] targets, int classes, float smoothing) {
        float[] out = new float[targets.length];
        for (int i = 0; i < out.length; i++) out[i] = targets[i] * (1f - smoothing) + smoothing / classes;
        return out;
    }

    /** a ± [0.05, 0.5) elementwise: no element within a finite-difference step of the kink of |a − b|. */
    private static float[] awayFrom(float[] a, long seed) {
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            float gap = 0.05f + 0.45f * CounterRng.uniform(seed, i);
            b[i] = a[i] + (CounterRng.uniform(seed + 1, i) < 0.5f ? -gap : gap);
        }
        return b;
    }

    /** Rows of positive weights summing to one, like mixed-up labels. */
    private Tensor softTargets(long seed, int rows, int classes) {
        float[] t = uniform(seed, rows * classes, 0f, 1f);
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int j = 0; j < classes; j++) sum += t[r * classes + j];
            for (int j = 0; j < classes; j++) t[r * classes + j] /= (float) sum;
        }
        return Scope.persistent(() -> Tensor.of(be, t, rows, classes));
    }

    /** A leaf with a fixed seed (independent of which tests ran before), alive outside any scope. */
    private Tensor leaf(long seed, float low, float high, boolean requiresGrad, int... shape) {
        return Scope.persistent(() -> Tensor.uniform(be, 5000 + seed, low, high, shape).requiresGrad(requiresGrad));
    }

    private static float[] uniform(long seed, int n, float low, float high) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = low + (high - low) * CounterRng.uniform(seed, i);
        return v;
    }

    private double scalar(java.util.function.Supplier<Tensor> f) {
        try (Scope s = Scope.open()) {
            return f.get().item();
        }
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    private static void assertClose(String what, float[] expected, float[] actual, double tol) {
        assertClose(what, toDouble(expected), actual, tol);
    }

    /** ‖actual − expected‖ / ‖expected‖ ≤ tol; an all-zero expectation (dq, dk when t = 1) must be met exactly. */
    private static void assertClose(String what, double[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double diff = 0, ref = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = actual[i] - expected[i];
            diff += d * d;
            ref += expected[i] * expected[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(ref), Double.MIN_NORMAL);
        assertTrue(rel <= tol, what + ": relative error " + rel + " > " + tol);
    }
}
