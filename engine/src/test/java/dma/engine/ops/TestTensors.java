package dma.engine.ops;

import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;

/** Fresh random leaves for op tests; each call draws a new stream. */
public final class TestTensors {
    private static long counter = 1;

    private TestTensors() {}

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
}
