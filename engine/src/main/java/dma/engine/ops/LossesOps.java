package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.autograd.Autograd;

/** Losses, each reduced to a scalar (shape []) mean and computed by one fused kernel. */
public final class LossesOps {
    private LossesOps() {}

    /**
     * Mean over rows of the cross-entropy between softmax(logits) and soft targets (rows of probabilities,
     * as mixup/cutmix make), smoothed as t·(1−s) + s/classes. Logits and targets are [rows, classes];
     * the targets are constants (no gradient flows to them).
     */
    public static Tensor crossEntropy(Tensor logits, Tensor targets, float smoothing) {
        return crossEntropy(logits, targets, smoothing, false);
    }

    /** Cross-entropy against class indices (one label per row of logits [rows, classes]). */
    public static Tensor crossEntropy(Tensor logits, int[] labels, float smoothing) {
        if (logits.rank() != 2) throw new IllegalArgumentException("crossEntropy: logits must be [rows, classes], got " + logits.shapeString());
        int rows = logits.dim(0), classes = logits.dim(1);
        if (labels.length != rows)
            throw new IllegalArgumentException("crossEntropy: " + labels.length + " labels for " + rows + " rows of logits " + logits.shapeString());
        float[] oneHot = new float[rows * classes];
        for (int r = 0; r < rows; r++) {
            int label = labels[r];
            if (label < 0 || label >= classes)
                throw new IllegalArgumentException("crossEntropy: label " + label + " in row " + r + " is out of range for " + classes + " classes");
            oneHot[r * classes + label] = 1f;
        }
        return crossEntropy(logits, Tensor.of(logits.backend(), oneHot, rows, classes), smoothing, true);
    }

    /** {@code ownsTargets}: the targets were made here, so they are closed as soon as nothing needs them. */
    private static Tensor crossEntropy(Tensor logits, Tensor targets, float smoothing, boolean ownsTargets) {
        Shapes.requireSameBackend("crossEntropy", logits, targets);
        if (logits.rank() != 2) throw new IllegalArgumentException("crossEntropy: logits must be [rows, classes], got " + logits.shapeString());
        Shapes.requireSameShape("crossEntropy", logits, targets);
        if (!(smoothing >= 0f && smoothing <= 1f))
            throw new IllegalArgumentException("crossEntropy: label smoothing must be in [0, 1], got " + smoothing);
        if (Autograd.needsGrad(targets))
            throw new IllegalArgumentException("crossEntropy: the targets require a gradient, which this loss does not compute; detach them");
        int rows = logits.dim(0), classes = logits.dim(1);
        if (rows == 0 || classes == 0) throw new IllegalArgumentException("crossEntropy: empty logits " + logits.shapeString());
        Backend be = logits.backend();
        Tensor out = Tensor.empty(be);
        Tensor probs = Tensor.empty(be, rows, classes);
        try (Tensor rowLoss = Tensor.empty(be, rows)) {
            be.losses().crossEntropy(logits.storage(), targets.storage(), smoothing, rowLoss.storage(), probs.storage(), rows, classes);
            be.reductions().sum(rowLoss.storage(), out.storage(), 1, rows, 1, 1f / rows, false);
        }
        float scale = 1f / rows;
        Autograd.record("crossEntropy", out, new Tensor[]{logits}, g -> be.losses().crossEntropyBackward(
                probs.storage(), targets.storage(), smoothing, g.storage(), scale, Autograd.gradStorage(logits), rows, classes));
        if (!out.requiresGrad()) {
            // nothing will run backward: the saved softmax (and targets made here) can go now
            probs.close();
            if (ownsTargets) targets.close();
        }
        return out;
    }

    /** Mean absolute difference of two tensors of the same shape; either (or both) may require a gradient. */
    public static Tensor l1(Tensor a, Tensor b) {
        Shapes.requireSameBackend("l1", a, b);
        Shapes.requireSameShape("l1", a, b);
        int n = a.numel();
        if (n == 0) throw new IllegalArgumentException("l1: empty inputs " + a.shapeString());
        Backend be = a.backend();
        Tensor out = Tensor.empty(be);
        be.losses().l1(a.storage(), b.storage(), out.storage(), n);
        return Autograd.record("l1", out, new Tensor[]{a, b}, g -> be.losses().l1Backward(
                a.storage(), b.storage(), g.storage(), Autograd.gradStorage(a), Autograd.gradStorage(b), n));
    }
}
