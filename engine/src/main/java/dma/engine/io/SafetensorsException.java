package dma.engine.io;

/**
 * A safetensors file could not be read or written. The message always names the file and what is
 * wrong with it (and the tensor, where one is involved).
 */
public class SafetensorsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
