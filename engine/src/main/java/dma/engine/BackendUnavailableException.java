package dma.engine;

/** A backend was asked for that is not built or not usable on this machine; the message says why and what to do. */
public final class BackendUnavailableException extends RuntimeException {
    public BackendUnavailableException(String message) {
        super(message);
    }
}
