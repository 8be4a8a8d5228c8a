package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Tensor;

import java.util.List;

/**
 * In-place parameter updates and gradient-norm tools, one parameter tensor at a time, outside the
 * autograd tape. Which parameters decay and how the learning rate moves is the trainer's policy.
 */
public final class OptimOps {
    private OptimOps() {}

    /**
     * One AdamW step on {@code param} from its gradient (torch.optim.AdamW: decoupled weight decay, bias
     * correction; {@code step} counts from 1). m and v are the moment buffers, same size, zero before step 1.
     * Does nothing when the parameter has no gradient.
     */
    public static void adamw(Tensor param, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                             float weightDecay, int step) {
        Tensor grad = param.grad();
        if (grad == null) return;
        if (step < 1) throw new IllegalArgumentException("adamw: step counts from 1, got " + step);
        requireState("adamw", param, m, "m");
        requireState("adamw", param, v, "v");
        param.backend().optim().adamw(param.storage(), grad.storage(), m.storage(), v.storage(), param.numel(),
                lr, beta1, beta2, eps, weightDecay, step);
    }

    /**
     * One SGD step with momentum (torch semantics, dampening 0). {@code momentumBuf} may be null when momentum
     * is 0; {@code firstStep} starts the buffer at the gradient, whatever it held. No-op without a gradient.
     */
    public static void sgd(Tensor param, Tensor momentumBuf, float lr, float momentum, float weightDecay,
                           boolean nesterov, boolean firstStep) {
        Tensor grad = param.grad();
        if (grad == null) return;
        if (momentum != 0f) {
            if (momentumBuf == null) throw new IllegalArgumentException("sgd: momentum " + momentum + " needs a momentum buffer");
            requireState("sgd", param, momentumBuf, "momentum buffer");
        } else if (nesterov) {
            throw new IllegalArgumentException("sgd: nesterov needs a nonzero momentum");
        }
        param.backend().optim().sgd(param.storage(), grad.storage(), momentumBuf == null ? null : momentumBuf.storage(),
                param.numel(), lr, momentum, weightDecay, nesterov, firstStep);
    }

    /** The L2 norm of all the parameters' gradients taken together (parameters without a gradient count as zero). */
    public static double globalGradNorm(List<Tensor> params) {
        double sumSq = 0;
        for (Tensor p : params) {
            Tensor g = p.grad();
            if (g != null) sumSq += g.backend().reductions().sumOfSquares(g.storage(), g.numel());
        }
        return Math.sqrt(sumSq);
    }

    /**
     * torch.nn.utils.clip_grad_norm_: when the global norm exceeds {@code maxNorm}, scales every gradient by
     * maxNorm / (norm + 1e-6). Returns the norm before clipping. A non-finite norm is returned and nothing is scaled.
     */
    public static double clipGradNorm(List<Tensor> params, double maxNorm) {
        if (!(maxNorm >= 0)) throw new IllegalArgumentException("clipGradNorm: maxNorm must be ≥ 0, got " + maxNorm);
        double norm = globalGradNorm(params);
        if (norm > maxNorm && Double.isFinite(norm)) {
            float coef = (float) (maxNorm / (norm + 1e-6));
            for (Tensor p : params) {
                Tensor g = p.grad();
                if (g == null) continue;
                Backend be = g.backend();
                be.elementwise().scale(g.storage(), g.storage(), coef, g.numel());
            }
        }
        return norm;
    }

    private static void requireState(String op, Tensor param, Tensor state, String what) {
        if (state.numel() != param.numel())
            throw new IllegalArgumentException(op + ": " + what + " " + state.shapeString() + " does not match parameter " + param.shapeString());
        Shapes.requireSameBackend(op, param, state);
    }
}
