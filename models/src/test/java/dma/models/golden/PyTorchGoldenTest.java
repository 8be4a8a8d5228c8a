package dma.models.golden;

import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;
import dma.engine.ops.LossesOps;
import dma.engine.ops.OptimOps;
import dma.models.ImageClassifier;
import dma.models.ModelFamily;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llm.c's golden-file test: a depth-2 ViT, a ResNet-20 and a small ConvNeXt against what PyTorch computes from the same
 * weights and inputs (bench/peers/make_golden.py; files in src/test/resources/golden): logits, loss,
 * every parameter gradient, and the weights (and BatchNorm running statistics) after 3 AdamW steps.
 */
class PyTorchGoldenTest {
    private static final double TOLERANCE = 1e-4;
    private final Backend be = CpuBackend.get();

    @Test
    void vitDepth2MatchesPyTorch() throws Exception {
        run("vit_depth2.safetensors", false);
    }

    @Test
    void resnet20MatchesPyTorch() throws Exception {
        run("resnet20.safetensors", true);
    }

    /** ConvNeXt with stages of 1, 1, 2, 1 blocks at 8/16/24/32 channels on 16² images (patch-2 stem: 8, 4, 2, 1 pixels). */
    @Test
    void convNeXtMatchesPyTorch() throws Exception {
        run("convnext_1121.safetensors", false);
    }

    @SuppressWarnings("unchecked")
    private void run(String file, boolean resnet) throws Exception {
        Path path = Path.of(getClass().getResource("/golden/" + file).toURI());
        Safetensors.Loaded golden = Safetensors.read(path);
        Map<String, Object> config = new ObjectMapper().readValue(golden.metadata().get("config"), Map.class);
        ImageClassifier model = ModelFamily.of((String) config.get("model")).fromMap(config).build(be, 0);
        Map<String, Tensor> g = new HashMap<>();
        try (model) {
            golden.tensors().forEach((k, v) -> g.put(k, TensorFiles.fromHost(be, v)));
            LinkedHashMap<String, Tensor> weights = new LinkedHashMap<>();
            g.forEach((k, v) -> {
                if (k.startsWith("weights.")) weights.put(k.substring(8), v);
            });
            model.load(weights, file, true);
            Tensor input = g.get("input");
            int[] labels = labels(g.get("labels"));
            float smoothing = Float.parseFloat(golden.metadata().get("loss_smoothing"));

            if (resnet) {
                try (Scope s = Scope.open()) {
                    model.train(false);
                    compare(file, "logits_eval", g.get("logits_eval"), model.forward(input, null));
                    model.train(true);
                }
            }
            List<Tensor> params = new ArrayList<>(model.parameters().values());
            List<Tensor> moments = new ArrayList<>();
            for (Tensor p : params) {
                moments.add(Scope.persistent(() -> Tensor.zeros(be, p.shape())));
                moments.add(Scope.persistent(() -> Tensor.zeros(be, p.shape())));
            }
            try (Scope s = Scope.open()) {
                Tensor logits = model.forward(input, null);
                Tensor loss = LossesOps.crossEntropy(logits, labels, smoothing);
                compare(file, "logits", g.get("logits"), logits);
                compare(file, "loss", g.get("loss"), loss);
                loss.backward();
                model.parameters().forEach((k, p) -> compare(file, "grad." + k, g.get("grad." + k), p.grad()));
            }
            for (int step = 1; step <= 3; step++) {
                try (Scope s = Scope.open()) {
                    for (Tensor p : params) p.zeroGrad();
                    LossesOps.crossEntropy(model.forward(input, null), labels, smoothing).backward();
                    for (int i = 0; i < params.size(); i++)
                        OptimOps.adamw(params.get(i), moments.get(2 * i), moments.get(2 * i + 1), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                }
            }
            int compared = 0;
            for (var e : model.stateDict().entrySet()) {
                Tensor expected = g.get("step3." + e.getKey()), grad = g.get("grad." + e.getKey());
                if (e.getKey().endsWith("attn.qkv.bias")) compareQkvBiasAfterAdam(file, e.getKey(), expected, e.getValue());
                else if (grad != null) compareAfterAdam(file, "step3." + e.getKey(), expected, e.getValue(), grad);
                else compare(file, "step3." + e.getKey(), expected, e.getValue());
                compared++;
            }
            assertEquals(model.stateDict().size(), compared);
            moments.forEach(Tensor::close);
        } finally {
            g.values().forEach(Tensor::close);
        }
    }

    /**
     * Softmax ignores the key bias, so its gradient is exactly zero and Adam, which divides by √v + eps,
     * turns rounding noise of ~1e-9 into steps of up to lr. The query and value thirds are compared as
     * everything else; the key third only to Adam's bound of lr per step (3 steps).
     */
    private static void compareQkvBiasAfterAdam(String file, String key, Tensor expected, Tensor actual) {
        float[] e = expected.toFloats(), a = actual.toFloats();
        int d = e.length / 3;
        try (Scope s = Scope.open()) {
            Backend be = expected.backend();
            for (int part : new int[]{0, 2})
                compare(file, "step3." + key + (part == 0 ? " (query)" : " (value)"),
                        Tensor.of(be, java.util.Arrays.copyOfRange(e, part * d, (part + 1) * d), d),
                        Tensor.of(be, java.util.Arrays.copyOfRange(a, part * d, (part + 1) * d), d));
        }
        for (int i = d; i < 2 * d; i++)
            assertEquals(e[i], a[i], 3 * 1e-3, file + ": step3." + key + " (key) element " + (i - d));
    }

    /**
     * A parameter after three Adam steps. Adam divides each gradient by its own magnitude, so an element whose
     * first gradient is near zero (below 1e-3 of the tensor's RMS: the rounding of either side can flip its sign)
     * moves by up to lr per step whichever way its noise points: those are held to that bound, the rest compared as
     * everything else. (The CPU's Winograd convolutions round its gradients about 4× as much as a direct sum: the
     * gradients still match to ~4e-6, but more near-zero elements of ResNet's 8×8 layers flipped.)
     */
    private static void compareAfterAdam(String file, String name, Tensor expected, Tensor actual, Tensor grad) {
        float[] e = expected.toFloats(), a = actual.toFloats(), gr = grad.toFloats();
        assertEquals(e.length, a.length, name + ": size");
        double sq = 0;
        for (float v : gr) sq += (double) v * v;
        double floor = 1e-3 * Math.sqrt(sq / gr.length), diff = 0, norm = 0;
        for (int i = 0; i < e.length; i++) {
            norm += (double) e[i] * e[i];
            if (Math.abs(gr[i]) < floor) assertEquals(e[i], a[i], 3 * 2 * 1e-3, file + ": " + name + " element " + i + " (near-zero gradient)");
            else diff += (a[i] - (double) e[i]) * (a[i] - (double) e[i]);
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-6);
        assertTrue(rel < TOLERANCE, String.format("%s: %s differs from PyTorch by relative error %.3g (tolerance %.0e)", file, name, rel, TOLERANCE));
    }

    private static int[] labels(Tensor t) {
        float[] v = t.toFloats();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Math.round(v[i]);
        return out;
    }

    /** ‖actual − expected‖ / ‖expected‖ (an absolute floor for all-zero tensors). */
    private static void compare(String file, String name, Tensor expected, Tensor actual) {
        assertTrue(expected != null, file + ": golden file has no '" + name + "'");
        assertTrue(actual != null, name + ": nothing computed");
        float[] e = expected.toFloats(), a = actual.toFloats();
        assertEquals(e.length, a.length, name + ": size");
        double diff = 0, norm = 0;
        for (int i = 0; i < e.length; i++) {
            diff += (a[i] - (double) e[i]) * (a[i] - (double) e[i]);
            norm += (double) e[i] * e[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-6);
        assertTrue(rel < TOLERANCE, String.format("%s: %s differs from PyTorch by relative error %.3g (tolerance %.0e)", file, name, rel, TOLERANCE));
    }
}
