package dma.trainer.optim;

import dma.engine.Tensor;
import dma.engine.ops.OptimOps;

import java.util.Map;

/**
 * AdamW (β = 0.9, 0.999, eps 1e-8) with DeiT's no-decay rule: no weight decay on 1-D tensors (biases,
 * norm gains), {@code pos_embed} and {@code cls_token}.
 */
public final class AdamW extends Optimizer {
    private final double weightDecay;

    public AdamW(Map<String, Tensor> params, double weightDecay) {
        super(params);
        this.weightDecay = weightDecay;
    }

    public static boolean decays(String name, Tensor p) {
        return p.rank() > 1 && !name.endsWith("pos_embed") && !name.endsWith("cls_token");
    }

    @Override
    protected void ensureState(String name, Tensor p) {
        stateOf("m", name, p);
        stateOf("v", name, p);
    }

    @Override
    public void step(float lr) {
        steps++;
        for (var e : params.entrySet()) {
            Tensor p = e.getValue();
            if (p.grad() == null) continue;
            float wd = decays(e.getKey(), p) ? (float) weightDecay : 0f;
            OptimOps.adamw(p, stateOf("m", e.getKey(), p), stateOf("v", e.getKey(), p), lr, 0.9f, 0.999f, 1e-8f, wd, steps);
        }
    }
}
