package dma.engine.ops;

import dma.engine.Backend;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One test body per op, run on every backend (candle's habit): a subclass's tests run once with {@code be} the CPU
 * backend and once with CUDA, which skips, saying why, where it cannot be opened.
 */
@ParameterizedClass(name = "{0}")
@MethodSource("dma.engine.ops.TestTensors#devices")
abstract class EveryBackend {
    @Parameter
    String device;
    Backend be;

    @BeforeEach
    void openBackend() {
        be = TestTensors.backend(device);
    }
}
