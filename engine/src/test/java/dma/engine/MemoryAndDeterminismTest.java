package dma.engine;

import dma.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryAndDeterminismTest {
    private final Backend be = CpuBackend.get();

    private static Tensor batch(Backend be, long seed) {
        return Scope.persistent(() -> Tensor.normal(be, seed, 0f, 1f, 8, 6, 24));
    }

    private static int[] labels(long seed) {
        int[] y = new int[8];
        for (int i = 0; i < 8; i++) y[i] = (int) Math.floorMod(CounterRng.bits(seed, i), 5L);
        return y;
    }

    /** On every backend: the CUDA allocator's live bytes must return to baseline just as the CPU's. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.MethodSource("dma.engine.ops.TestTensors#devices")
    void fiftyTrainingStepsReturnLiveBytesToBaseline(String device) {
        Backend be = dma.engine.ops.TestTensors.backend(device);
        try (TinyTransformer model = new TinyTransformer(be, 1, 24, 3, 5); Tensor x = batch(be, 2)) {
            int[] y = labels(3);
            model.trainStep(x, y); // first step creates the parameter gradients, which live with the parameters
            long baseline = be.memory().liveBytes();
            long peakStep = 0;
            for (int i = 0; i < 50; i++) {
                be.memory().resetPeak();
                float loss = model.trainStep(x, y);
                assertTrue(Float.isFinite(loss));
                assertEquals(baseline, be.memory().liveBytes(), "live bytes after step " + (i + 2));
                peakStep = Math.max(peakStep, be.memory().peakBytes() - baseline);
            }
            assertTrue(peakStep > 0, "a step allocates temporaries while it runs");
        }
    }

    @Test
    void scopeFreesWhatItCreatedAndKeepsWhatWasKept() {
        long before = be.memory().liveBytes();
        Tensor kept;
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(be, 100);
            Tensor b = a.reshape(10, 10); // a view: shares storage, released once both are closed
            kept = Tensor.full(be, 2f, 50).keep();
            assertTrue(be.memory().liveBytes() >= before + 600);
            assertEquals(100, b.numel());
        }
        assertEquals(before + 200, be.memory().liveBytes());
        kept.close();
        assertEquals(before, be.memory().liveBytes());
    }

    /** Weights after {@code steps} training steps on the CPU backend with {@code threads} threads. */
    private static float[][] trainWeights(int threads, int steps) {
        Backend be = CpuBackend.withThreads(threads);
        try (TinyTransformer model = new TinyTransformer(be, 7, 24, 3, 5); Tensor x = batch(be, 8)) {
            int[] y = labels(9);
            for (int i = 0; i < steps; i++) model.trainStep(x, y);
            float[][] w = new float[model.params.size()][];
            for (int i = 0; i < w.length; i++) w[i] = model.params.get(i).toFloats();
            return w;
        }
    }

    @Test
    void tensorsOfCpuBackendsWithDifferentThreadCountsDoNotMix() {
        try (Tensor a = Tensor.zeros(CpuBackend.withThreads(1), 2, 2); Tensor b = Tensor.zeros(CpuBackend.withThreads(2), 2, 2)) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> dma.engine.ops.BlasOps.matmul(a, b));
            assertEquals("matmul: tensors live on different backends (cpu with 1 thread, cpu with 2 threads)", e.getMessage());
        }
    }

    @Test
    void sameSeedSameThreadsGivesBitIdenticalWeights() {
        for (int threads : new int[]{1, 2}) {
            float[][] a = trainWeights(threads, 5), b = trainWeights(threads, 5);
            for (int i = 0; i < a.length; i++) assertArrayEquals(a[i], b[i], 0f, "parameter " + i + " with " + threads + " threads");
        }
        // and training moved the weights (the comparison is not between two untouched initializations)
        float[][] start = trainWeights(1, 0), end = trainWeights(1, 5);
        assertTrue(java.util.stream.IntStream.range(0, start.length).anyMatch(i -> !java.util.Arrays.equals(start[i], end[i])));
    }
}
