package dma.engine.cpu;

import dma.engine.cpu.CpuDirectConv.Geometry;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The direct convolution keeps its threads' work arrays between calls of the same shape ({@link WorkPool}): nothing
 * a call leaves in them may reach a later call. A call over NaN images between two identical calls must leave the
 * second one's output and gradients bit for bit the first one's.
 */
class CpuDirectConvReuseTest {
    private final Random random = new Random(11);
    private final CpuDirectConv conv = new CpuDirectConv(CpuBackend.get().parallel());

    private FloatBuffer buffer(int n, boolean nan) {
        FloatBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < n; i++) b.put(i, nan ? Float.NaN : (float) random.nextGaussian());
        return b;
    }

    private static float[] read(FloatBuffer b) {
        float[] a = new float[b.capacity()];
        b.get(0, a);
        return a;
    }

    /** Output, input gradient (overwritten from NaN) and weight gradient (added to zeros) of n images. */
    private float[][] run(FloatBuffer x, FloatBuffer w, FloatBuffer dy, int n, Geometry g) {
        FloatBuffer y = ByteBuffer.allocateDirect(4 * n * g.o() * g.oh() * g.ow()).order(ByteOrder.nativeOrder()).asFloatBuffer();
        FloatBuffer gi = ByteBuffer.allocateDirect(4 * n * g.c() * g.h() * g.w()).order(ByteOrder.nativeOrder()).asFloatBuffer();
        FloatBuffer gw = ByteBuffer.allocateDirect(4 * g.o() * g.c() * g.kh() * g.kw()).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < gi.capacity(); i++) gi.put(i, Float.NaN);
        conv.forward(x, w, y, n, g);
        conv.backward(dy, x, w, gi, true, gw, n, g);
        return new float[][]{read(y), read(gi), read(gw)};
    }

    @Test
    void aCallAfterAPoisonedOneGivesTheSameBits() {
        // Winograd F(4, 3) on many small images, on a wide plane with a partial last row group, and with 16 channels;
        // the direct form (5×5); the later call has fewer images than one batch of the poisoned call
        Geometry[] shapes = {new Geometry(5, 4, 4, 6, 3, 3, 1, 1), new Geometry(3, 19, 33, 10, 3, 3, 1, 1),
                new Geometry(16, 8, 8, 16, 3, 3, 1, 1), new Geometry(4, 9, 7, 9, 5, 5, 2, 2)};
        for (Geometry g : shapes) {
            int few = 3, many = 40, in = g.c() * g.h() * g.w(), out = g.o() * g.oh() * g.ow();
            FloatBuffer x = buffer(few * in, false), w = buffer(g.o() * g.c() * g.kh() * g.kw(), false), dy = buffer(few * out, false);
            float[][] first = run(x, w, dy, few, g);
            for (float[] r : first) for (float v : r) assertTrue(Float.isFinite(v), g + ": finite to start with");
            run(buffer(many * in, true), w, buffer(many * out, true), many, g);
            assertTrue(conv.pool.size() > 0, "the work arrays were kept");
            float[][] again = run(x, w, dy, few, g);
            String[] what = {"output", "input gradient", "weight gradient"};
            for (int i = 0; i < 3; i++) assertArrayEquals(first[i], again[i], g + ": " + what[i] + " after a NaN call");
        }
    }
}
