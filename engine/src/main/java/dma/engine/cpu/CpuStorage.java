package dma.engine.cpu;

import dma.engine.Backend;
import dma.engine.Storage;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/** Off-heap memory from malloc: freed when released, never by the garbage collector. */
final class CpuStorage extends Storage {
    final CpuBackend backend;
    final Pointer memory;
    final ByteBuffer bytes;
    /** float32 view (all of the memory). */
    final FloatBuffer f;

    CpuStorage(CpuBackend backend, Pointer memory, long bytes) {
        super(bytes);
        this.backend = backend;
        this.memory = memory;
        this.bytes = new BytePointer(memory).capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder());
        this.f = this.bytes.asFloatBuffer();
    }

    @Override
    public Backend backend() {
        return backend;
    }

    /** bfloat16 view (the same memory as 16-bit words). */
    ShortBuffer shorts() {
        return bytes.asShortBuffer();
    }

    /** A pointer to float element {@code offset}, for native calls. */
    FloatPointer at(int offset) {
        return new FloatPointer(memory).position(offset);
    }
}
