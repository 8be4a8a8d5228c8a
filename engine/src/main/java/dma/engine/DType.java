package dma.engine;

/** Element types. Float32 is the compute type; bfloat16 is a storage type (mixed precision, checkpoints). */
public enum DType {
    F32(4, "F32"),
    BF16(2, "BF16");

    public final int bytes;
    /** The name safetensors uses. */
    public final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }
}
