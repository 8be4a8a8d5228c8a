package dma.engine;

import dma.engine.cpu.CpuBackend;
import dma.engine.ops.ElementwiseOps;
import dma.engine.ops.BlasOps;
import dma.engine.ops.LossesOps;
import dma.engine.ops.OptimOps;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The whole engine on a toy task: a 2-32-3 MLP must classify three interleaved spirals perfectly. */
class MlpSmokeTest {
    @Test
    void mlpFitsSpiralsToFullAccuracy() {
        Backend be = CpuBackend.get();
        int perClass = 40, classes = 3, n = perClass * classes;
        float[] xs = new float[n * 2];
        int[] ys = new int[n];
        for (int c = 0; c < classes; c++)
            for (int i = 0; i < perClass; i++) {
                int r = c * perClass + i;
                double radius = (i + 1.0) / perClass, angle = c * 2 * Math.PI / classes + 2.5 * radius;
                xs[2 * r] = (float) (radius * Math.cos(angle));
                xs[2 * r + 1] = (float) (radius * Math.sin(angle));
                ys[r] = c;
            }
        Rng rng = new Rng(3);
        List<Tensor> params = new ArrayList<>(), moments = new ArrayList<>();
        Scope.persistent(() -> {
            params.add(Tensor.uniform(be, rng.nextSeed(), -0.7f, 0.7f, 64, 2));
            params.add(Tensor.zeros(be, 64));
            params.add(Tensor.uniform(be, rng.nextSeed(), -0.12f, 0.12f, classes, 64));
            params.add(Tensor.zeros(be, classes));
            for (Tensor p : params) {
                p.requiresGrad(true);
                moments.add(Tensor.zeros(be, p.shape()));
                moments.add(Tensor.zeros(be, p.shape()));
            }
            return null;
        });
        Tensor x = Scope.persistent(() -> Tensor.of(be, xs, n, 2));
        float loss = Float.NaN;
        for (int step = 1; step <= 1500; step++) {
            try (Scope s = Scope.open()) {
                for (Tensor p : params) p.zeroGrad();
                Tensor l = LossesOps.crossEntropy(forward(x, params), ys, 0f);
                l.backward();
                for (int i = 0; i < params.size(); i++)
                    OptimOps.adamw(params.get(i), moments.get(2 * i), moments.get(2 * i + 1), 0.02f, 0.9f, 0.999f, 1e-8f, 0f, step);
                loss = l.item();
            }
        }
        int correct = 0;
        try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            float[] logits = forward(x, params).toFloats();
            for (int r = 0; r < n; r++) {
                int best = 0;
                for (int c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
                if (best == ys[r]) correct++;
            }
        }
        assertEquals(n, correct, "accuracy on the training spirals (final loss " + loss + ")");
        params.forEach(Tensor::close);
        moments.forEach(Tensor::close);
        x.close();
    }

    private static Tensor forward(Tensor x, List<Tensor> p) {
        return BlasOps.linear(ElementwiseOps.relu(BlasOps.linear(x, p.get(0), p.get(1))), p.get(2), p.get(3));
    }
}
