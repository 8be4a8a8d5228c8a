package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Optim;

import static dma.engine.cuda.CudaBackend.ptr;

/** Fused optimizer steps (kernels/src/main/cuda/optim.cu): one pass over parameter, gradient and state. */
final class CudaOptim implements Optim {
    private static final String MODULE = "optim";
    private final CudaBackend backend;

    CudaOptim(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void adamw(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step) {
        // The same double arithmetic as the CPU reference (the update is memory-bound: the doubles cost nothing).
        double decay = 1.0 - (double) lr * weightDecay;
        double stepSize = lr / (1.0 - Math.pow(beta1, step));
        double bc2Sqrt = Math.sqrt(1.0 - Math.pow(beta2, step));
        backend.launch1d(MODULE, "adamw", n, 256, ptr(param), ptr(grad), ptr(m), ptr(v), n,
                (double) beta1, (double) beta2, (double) eps, decay, stepSize, bc2Sqrt);
    }

    @Override
    public void sgd(Storage param, Storage grad, Storage momentumBuf, int n, float lr, float momentum, float weightDecay,
                    boolean nesterov, boolean firstStep) {
        backend.launch1d(MODULE, "sgd", n, 256, ptr(param), ptr(grad), ptr(momentumBuf), n, lr, momentum, weightDecay, nesterov, firstStep);
    }
}
