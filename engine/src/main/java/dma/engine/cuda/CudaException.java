package dma.engine.cuda;

/** A failed CUDA driver or cuBLAS call; the message names the call (kernel and launch shape for launches) and the error. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }
}
