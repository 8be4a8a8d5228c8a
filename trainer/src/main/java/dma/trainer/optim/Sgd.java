package dma.trainer.optim;

import dma.engine.Tensor;
import dma.engine.ops.OptimOps;

import java.util.Map;

/** SGD with momentum and weight decay on every parameter, as the CIFAR ResNet recipes use. */
public final class Sgd extends Optimizer {
    private final double momentum, weightDecay;

    public Sgd(Map<String, Tensor> params, double momentum, double weightDecay) {
        super(params);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
    }

    @Override
    protected void ensureState(String name, Tensor p) {
        stateOf("momentum", name, p);
    }

    @Override
    public void step(float lr) {
        steps++;
        for (var e : params.entrySet()) {
            Tensor p = e.getValue();
            if (p.grad() == null) continue;
            OptimOps.sgd(p, stateOf("momentum", e.getKey(), p), lr, (float) momentum, (float) weightDecay, false, steps == 1);
        }
    }
}
