package dma.engine.cpu;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** zero and copy split large buffers across threads: every byte, and only those asked for, must be covered. */
class CpuMemoryOpsTest {
    @Test
    void zeroAndCopyCoverEveryByteOfLargeBuffers() {
        CpuBackend be = CpuBackend.get();
        for (long bytes : new long[]{3, 1 << 20, (3L << 20) + 7, (5L << 20) + 3}) {
            Storage a = be.allocate(bytes), b = be.allocate(bytes + 16);
            try {
                ByteBuffer x = ((CpuStorage) a).bytes, y = ((CpuStorage) b).bytes;
                for (int i = 0; i < bytes; i++) x.put(i, (byte) (i * 31 + 7));
                for (int i = 0; i < bytes + 16; i++) y.put(i, (byte) 0x5a);
                be.copy(a, b, bytes);
                for (int i = 0; i < bytes; i++) assertEquals((byte) (i * 31 + 7), y.get(i), "copy of " + bytes + " bytes, byte " + i);
                for (int i = (int) bytes; i < bytes + 16; i++) assertEquals((byte) 0x5a, y.get(i), "copy wrote past " + bytes + " bytes");
                be.zero(a);
                for (int i = 0; i < bytes; i++) assertEquals(0, x.get(i), "zero of " + bytes + " bytes, byte " + i);
            } finally {
                be.free(a);
                be.free(b);
            }
        }
    }
}
