package dma.models.vit;

import dma.engine.Autocast;
import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.CounterRng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.HostTensor;
import dma.engine.io.TensorFiles;
import dma.engine.ops.LossesOps;
import dma.engine.ops.OptimOps;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole-model check: one ViT training step (forward, cross-entropy, backward, AdamW) on CUDA against the CPU
 * reference from the same weights (moved through host tensors, timm names) and inputs: logits, loss, every parameter
 * gradient and every updated weight at float32 tolerance, and the step under {@link Autocast#bf16()} at bf16
 * tolerance. The CUDA checks skip, saying why, where CUDA cannot be opened; the autocast check against float32 runs on the CPU.
 */
class ViTBackendStepTest {
    /** Depth 2, width 48, 3 heads, patch 7 on 28×28×1: 17 tokens, sizes that fill no kernel block. */
    private static final ViTConfig CONFIG = new ViTConfig(28, 7, 1, 10, 48, 2, 3, 4, 0.0);
    private static final int BATCH = 8;
    private static final float LR = 1e-3f, SMOOTHING = 0.1f;
    /** Relative error per tensor, float32 across backends (reduction orders differ through the whole model). */
    private static final double F32 = 1e-4;
    /** Relative error per tensor between two bf16 autocast runs: an operand that rounds the other way moves a product by 2⁻⁸. */
    private static final double BF16 = 1e-2;
    /**
     * Relative error per tensor between autocast and float32, every GEMM operand rounded to 8 significant bits
     * (the CPU measures at most 5e-3 on this model).
     */
    private static final double MIXED = 2e-2;

    /** What one step produced, on the host. */
    record Step(float[] logits, float loss, Map<String, float[]> grads, Map<String, float[]> updated) {}

    private static Map<String, HostTensor> referenceWeights() {
        try (VisionTransformer model = CONFIG.build(CpuBackend.get(), 42)) {
            Map<String, HostTensor> host = new LinkedHashMap<>();
            model.stateDict().forEach((k, t) -> host.put(k, TensorFiles.toHost(t)));
            return host;
        }
    }

    private static float[] images() {
        float[] v = new float[BATCH * 28 * 28];
        long seed = CounterRng.derive(7, 1);
        for (int i = 0; i < v.length; i++) v[i] = 2 * CounterRng.uniform(seed, i) - 1;
        return v;
    }

    private static int[] labels() {
        int[] y = new int[BATCH];
        for (int i = 0; i < BATCH; i++) y[i] = (int) Math.floorMod(CounterRng.bits(11, i), 10L);
        return y;
    }

    /** A model on {@code be} holding exactly {@code weights}: built, then loaded through host tensors. */
    static VisionTransformer load(Backend be, Map<String, HostTensor> weights) {
        VisionTransformer model = CONFIG.build(be, 0);
        Map<String, Tensor> onDevice = new LinkedHashMap<>();
        try {
            weights.forEach((k, h) -> onDevice.put(k, TensorFiles.fromHost(be, h)));
            model.load(onDevice, "reference weights", true);
        } finally {
            onDevice.values().forEach(Tensor::close);
        }
        model.stateDict().forEach((k, t) -> assertArrayEquals(weights.get(k).toFloats(), t.toFloats(), 0f, k + " after loading on " + be.name()));
        return model;
    }

    /** One AdamW step (the first) on {@code be}; with {@code bf16} the forward and the loss run under autocast. */
    static Step step(Backend be, Map<String, HostTensor> weights, float[] images, int[] labels, boolean bf16) {
        try (VisionTransformer model = load(be, weights)) {
            List<Tensor> moments = new ArrayList<>();
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(be, images, BATCH, 1, 28, 28);
                Tensor logits, loss;
                try (Autocast.Region r = bf16 ? Autocast.bf16() : null) {
                    logits = model.forward(x, null);
                    loss = LossesOps.crossEntropy(logits, labels, SMOOTHING);
                }
                loss.backward();
                Map<String, float[]> grads = new LinkedHashMap<>(), updated = new LinkedHashMap<>();
                model.parameters().forEach((k, p) -> {
                    assertTrue(p.grad() != null, k + ": no gradient on " + be.name());
                    grads.put(k, p.grad().toFloats());
                    Tensor m = Scope.persistent(() -> Tensor.zeros(be, p.shape())), v = Scope.persistent(() -> Tensor.zeros(be, p.shape()));
                    moments.add(m);
                    moments.add(v);
                    OptimOps.adamw(p, m, v, LR, 0.9f, 0.999f, 1e-8f, 0.05f, 1);
                    updated.put(k, p.toFloats());
                });
                return new Step(logits.toFloats(), loss.item(), grads, updated);
            } finally {
                moments.forEach(Tensor::close);
            }
        }
    }

    private static Backend cuda() {
        String why = Backends.unavailableReason("cuda");
        Assumptions.assumeTrue(why == null, () -> "whole-model CUDA check skipped: " + why);
        return Backends.get("cuda");
    }

    @Test
    void cudaStepMatchesCpu() {
        Backend gpu = cuda();
        Map<String, HostTensor> w = referenceWeights();
        float[] x = images();
        int[] y = labels();
        Step cpu = step(CpuBackend.get(), w, x, y, false), cuda = step(gpu, w, x, y, false);
        compare("float32", cpu, cuda, F32, true);
    }

    @Test
    void cudaAutocastStepMatchesCpuAutocast() {
        Backend gpu = cuda();
        Map<String, HostTensor> w = referenceWeights();
        float[] x = images();
        int[] y = labels();
        Step cpu = step(CpuBackend.get(), w, x, y, true), cuda = step(gpu, w, x, y, true);
        compare("bf16 autocast", cpu, cuda, BF16, false);
        Step cpuF32 = step(CpuBackend.get(), w, x, y, false);
        compare("cuda bf16 autocast against cpu float32", cpuF32, cuda, MIXED, false);
    }

    /** Runs everywhere: the same harness on the CPU alone, autocast against float32. */
    @Test
    void cpuAutocastStepFollowsFloat32() {
        Map<String, HostTensor> w = referenceWeights();
        float[] x = images();
        int[] y = labels();
        Backend cpu = CpuBackend.get();
        Step full = step(cpu, w, x, y, false), mixed = step(cpu, w, x, y, true);
        compare("cpu bf16 autocast against float32", full, mixed, MIXED, false);
        assertTrue(relativeError(mixed.logits, full.logits) > 0, "autocast changed nothing: the GEMMs did not round their operands");
        // and a float32 step is reproducible bit for bit, so the comparisons above measure precision, not noise
        Step again = step(cpu, w, x, y, false);
        assertArrayEquals(full.logits, again.logits, 0f);
        full.grads.forEach((k, g) -> assertArrayEquals(g, again.grads.get(k), 0f, k));
        compare("cpu float32 against itself", full, again, 0, true);
    }

    /** Logits, loss and gradients within {@code tol}; with {@code weights} the updated weights too. */
    private static void compare(String what, Step expected, Step actual, double tol, boolean weights) {
        check(what + ": logits", expected.logits, actual.logits, tol);
        assertEquals(expected.loss, actual.loss, tol * Math.abs(expected.loss), what + ": loss");
        assertEquals(expected.grads.keySet(), actual.grads.keySet());
        expected.grads.forEach((k, g) -> check(what + ": grad " + k, g, actual.grads.get(k), tol));
        if (!weights) return;
        expected.updated.forEach((k, e) -> {
            float[] a = actual.updated.get(k);
            if (!k.endsWith("attn.qkv.bias")) {
                check(what + ": updated " + k, e, a, tol);
                return;
            }
            // softmax ignores the key bias: its gradient is rounding noise, which Adam's first step turns into ±lr
            int d = e.length / 3;
            for (int part : new int[]{0, 2})
                check(what + ": updated " + k + (part == 0 ? " (query)" : " (value)"),
                        java.util.Arrays.copyOfRange(e, part * d, (part + 1) * d), java.util.Arrays.copyOfRange(a, part * d, (part + 1) * d), tol);
            for (int i = d; i < 2 * d; i++) assertEquals(e[i], a[i], 2.01 * LR, what + ": updated " + k + " (key) element " + (i - d));
        });
    }

    private static void check(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": size");
        double rel = relativeError(actual, expected);
        assertTrue(rel <= tol, String.format("%s: relative error %.3g > %.0e", what, rel, tol));
    }

    /** ‖a − b‖/‖b‖, with a floor for an all-zero reference; NaN anywhere fails. */
    private static double relativeError(float[] a, float[] b) {
        double diff = 0, norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
            norm += (double) b[i] * b[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
        return Double.isNaN(rel) ? Double.POSITIVE_INFINITY : rel;
    }
}
