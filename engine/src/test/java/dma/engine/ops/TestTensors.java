package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.DType;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;

/** Fresh random leaves for op tests; each call draws a new stream. */
public final class TestTensors {
    private static long counter = 1;

    private TestTensors() {}

    /** Every backend an op test body runs on; one that is unavailable here is skipped saying why. */
    public static java.util.stream.Stream<String> devices() {
        return Backends.names().stream();
    }

    /** The backend named {@code device}, or a skipped test (a JUnit assumption) naming why it is unavailable. */
    public static Backend backend(String device) {
        String why = Backends.unavailableReason(device);
        org.junit.jupiter.api.Assumptions.assumeTrue(why == null, () -> device + " tests skipped: " + why);
        return Backends.get(device);
    }

    public static Backend cpu() {
        return CpuBackend.get();
    }

    /** Uniform in [-1, 1), requiring a gradient, alive until closed (outside any scope). */
    public static Tensor param(Backend be, int... shape) {
        return Scope.persistent(() -> Tensor.uniform(be, 9000 + counter++, -1f, 1f, shape).requiresGrad(true));
    }

    /** Same, but with no gradient (a fixed input). */
    public static Tensor input(Backend be, int... shape) {
        return Scope.persistent(() -> Tensor.uniform(be, 9000 + counter++, -1f, 1f, shape));
    }

    /** Bytes the backend accounts for a tensor of this type and shape (the CUDA allocator rounds up to its buckets). */
    public static long accountedBytes(Backend be, DType type, int... shape) {
        long before = be.memory().liveBytes();
        try (Tensor t = Scope.persistent(() -> Tensor.empty(be, type, shape))) {
            return be.memory().liveBytes() - before;
        }
    }
}
