package dma.engine;

import dma.engine.ops.AttentionOps;
import dma.engine.ops.ElementwiseOps;
import dma.engine.ops.BlasOps;
import dma.engine.ops.LossesOps;
import dma.engine.ops.NormalizationOps;
import dma.engine.ops.OptimOps;

import java.util.ArrayList;
import java.util.List;

/**
 * A pre-norm transformer block with a linear classifier on the mean token, written functionally on the
 * engine's ops: the workload of the memory and determinism tests (the real layers live in the models module).
 */
final class TinyTransformer implements AutoCloseable {
    final int width, heads, classes;
    final List<Tensor> params = new ArrayList<>();
    private final List<Tensor> moments = new ArrayList<>();
    final Tensor ln1w, ln1b, qkvW, qkvB, projW, projB, ln2w, ln2b, fc1W, fc1B, fc2W, fc2B, headW, headB;
    private int step;

    TinyTransformer(Backend be, long seed, int width, int heads, int classes) {
        this.width = width;
        this.heads = heads;
        this.classes = classes;
        Rng rng = new Rng(seed);
        ln1w = param(Tensor.full(be, 1f, width));
        ln1b = param(Tensor.zeros(be, width));
        qkvW = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.1f, 3 * width, width));
        qkvB = param(Tensor.zeros(be, 3 * width));
        projW = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.1f, width, width));
        projB = param(Tensor.zeros(be, width));
        ln2w = param(Tensor.full(be, 1f, width));
        ln2b = param(Tensor.zeros(be, width));
        fc1W = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.1f, 4 * width, width));
        fc1B = param(Tensor.zeros(be, 4 * width));
        fc2W = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.1f, width, 4 * width));
        fc2B = param(Tensor.zeros(be, width));
        headW = param(Tensor.normal(be, rng.nextSeed(), 0f, 0.1f, classes, width));
        headB = param(Tensor.zeros(be, classes));
        for (Tensor p : params) {
            moments.add(Scope.persistent(() -> Tensor.zeros(be, p.shape())));
            moments.add(Scope.persistent(() -> Tensor.zeros(be, p.shape())));
        }
    }

    private Tensor param(Tensor t) {
        t.keep().requiresGrad(true);
        params.add(t);
        return t;
    }

    /** x [B, T, width] → logits [B, classes]. */
    Tensor forward(Tensor x, long dropSeed) {
        int b = x.dim(0), t = x.dim(1), hd = width / heads;
        Tensor h = NormalizationOps.layerNorm(x, ln1w, ln1b, 1e-6f);
        Tensor qkv = BlasOps.linear(h, qkvW, qkvB).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4);
        Tensor q = dma.engine.ops.LayoutOps.slice(qkv, 0, 0, 1).reshape(b, heads, t, hd);
        Tensor k = dma.engine.ops.LayoutOps.slice(qkv, 0, 1, 1).reshape(b, heads, t, hd);
        Tensor v = dma.engine.ops.LayoutOps.slice(qkv, 0, 2, 1).reshape(b, heads, t, hd);
        Tensor a = AttentionOps.attention(q, k, v, (float) (1.0 / Math.sqrt(hd))).permute(0, 2, 1, 3).reshape(b, t, width);
        x = x.add(ElementwiseOps.dropPath(BlasOps.linear(a, projW, projB), 0.1f, dropSeed));
        Tensor m = ElementwiseOps.gelu(BlasOps.linear(NormalizationOps.layerNorm(x, ln2w, ln2b, 1e-6f), fc1W, fc1B));
        x = x.add(ElementwiseOps.dropout(BlasOps.linear(m, fc2W, fc2B), 0.1f, dropSeed + 1));
        return BlasOps.linear(x.mean(1), headW, headB);
    }

    /** One AdamW step on a batch; returns the loss. */
    float trainStep(Tensor x, int[] labels) {
        step++;
        try (Scope s = Scope.open()) {
            for (Tensor p : params) p.zeroGrad();
            Tensor loss = LossesOps.crossEntropy(forward(x, 1000L * step), labels, 0.1f);
            loss.backward();
            for (int i = 0; i < params.size(); i++)
                OptimOps.adamw(params.get(i), moments.get(2 * i), moments.get(2 * i + 1), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
            return loss.item();
        }
    }

    @Override
    public void close() {
        for (Tensor t : params) t.close();
        for (Tensor t : moments) t.close();
    }
}
