package dma.engine.cuda;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.CounterRng;
import dma.engine.Storage;
import org.junit.jupiter.api.Assumptions;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Kernel-level parity of the CUDA backend against the CPU reference (DESIGN §4): the same fresh random inputs on
 * both devices, the CUDA outputs poisoned with NaN first (so an element the kernel never wrote fails), compared by
 * ‖cuda − cpu‖ / ‖cpu‖. Each parity test starts with {@link #cuda()}, which skips it, saying why, without a GPU.
 */
final class Parity {
    static final double F32 = 1e-5, BF16 = 1e-2;
    private static long seed = 1;

    final Backend cpu = Backends.get("cpu");
    final Backend gpu;

    private Parity(Backend gpu) {
        this.gpu = gpu;
    }

    /** The pair of backends, or a skipped test when CUDA cannot be opened here. */
    static Parity cuda() {
        String why = Backends.unavailableReason("cuda");
        Assumptions.assumeTrue(why == null, () -> "CUDA parity skipped: " + why);
        return new Parity(Backends.get("cuda"));
    }

    /** Fresh uniform values in [lo, hi), a new stream on every call. */
    static float[] random(int n, float lo, float hi) {
        long s = CounterRng.derive(0xC0DA, seed++);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * CounterRng.uniform(s, i);
        return v;
    }

    static float[] random(int n) {
        return random(n, -1f, 1f);
    }

    /** The same values on both devices. */
    Storage[] pair(float[] values) {
        Storage a = cpu.allocate(4L * values.length), b = gpu.allocate(4L * values.length);
        cpu.upload(values, a, 0);
        gpu.upload(values, b, 0);
        return new Storage[]{a, b};
    }

    /** An output pair: NaN on the GPU (every element must be written), the given values on the CPU (for accumulating kernels). */
    Storage[] output(float[] cpuInitial) {
        Storage[] p = pair(cpuInitial);
        float[] nan = new float[cpuInitial.length];
        java.util.Arrays.fill(nan, Float.NaN);
        gpu.upload(nan, p[1], 0);
        return p;
    }

    Storage[] output(int n) {
        return output(new float[n]);
    }

    /** An accumulating gradient pair: the same random starting values on both devices. */
    Storage[] accumulator(int n) {
        return pair(random(n));
    }

    static float[] read(Backend be, Storage s, int n) {
        float[] v = new float[n];
        be.download(s, 0, v);
        return v;
    }

    /** Asserts ‖gpu − cpu‖/‖cpu‖ ≤ tol over the first n floats, with no NaN on the GPU side. */
    void assertClose(Storage[] p, int n, double tol, String what) {
        float[] want = read(cpu, p[0], n), got = read(gpu, p[1], n);
        double diff = 0, ref = 0;
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(got[i]) && !Float.isNaN(want[i]))
                fail(what + ": element " + i + " of " + n + " is NaN on cuda (unwritten or wrong), cpu has " + want[i]);
            diff += Math.pow((double) got[i] - want[i], 2);
            ref += (double) want[i] * want[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(ref), 1e-30);
        assertTrue(rel <= tol, () -> String.format("%s: relative error %.3g > %.1g over %d elements", what, rel, tol, n));
    }

    /** Frees every storage given (tests allocate outside scopes). */
    static void free(Storage[]... pairs) {
        for (Storage[] p : pairs)
            for (Storage s : p) if (s != null) s.backend().free(s);
    }
}
