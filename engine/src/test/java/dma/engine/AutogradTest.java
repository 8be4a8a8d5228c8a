package dma.engine;

import dma.engine.cpu.CpuBackend;
import dma.engine.ops.ElementwiseOps;
import dma.engine.ops.BlasOps;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AutogradTest {
    private final Backend be = CpuBackend.get();

    @Test
    void deepChainRunsWithoutRecursion() {
        // 20 000 ops on one path: a recursive topological sort would overflow the stack
        Tensor x = Scope.persistent(() -> Tensor.full(be, 1f, 4).requiresGrad(true));
        try (Scope s = Scope.open()) {
            Tensor h = x;
            for (int i = 0; i < 20_000; i++) h = h.scale(1.0001f);
            h.sumAll().backward();
            float expected = (float) Math.pow(1.0001, 20_000);
            for (float g : x.grad().toFloats()) assertEquals(expected, g, expected * 1e-3);
        } finally {
            x.close();
        }
    }

    @Test
    void gradientsAccumulateAcrossBackwardCallsAndSharedUses() {
        Tensor x = Scope.persistent(() -> Tensor.of(be, new float[]{1f, 2f, 3f}, 3).requiresGrad(true));
        try (Scope s = Scope.open()) {
            // y = x·x + x: dy/dx = 2x + 1, x used twice in one graph
            x.mul(x).add(x).sumAll().backward();
            assertArrayEquals(new float[]{3f, 5f, 7f}, x.grad().toFloats());
            x.scale(2f).sumAll().backward();
            assertArrayEquals(new float[]{5f, 7f, 9f}, x.grad().toFloats());
        } finally {
            x.close();
        }
    }

    @Test
    void noGradScopeRecordsNothing() {
        Tensor w = Scope.persistent(() -> Tensor.uniform(be, 1, -1f, 1f, 3, 3).requiresGrad(true));
        try (Scope s = Scope.open()) {
            Tensor y;
            try (GradMode off = GradMode.disabled()) {
                y = BlasOps.matmul(w, w);
            }
            assertFalse(y.requiresGrad());
            assertNull(y.node());
            assertThrows(IllegalStateException.class, y.sumAll()::backward);
            Tensor z = BlasOps.matmul(w, w);
            assertTrue(z.requiresGrad());
        } finally {
            w.close();
        }
    }

    @Test
    void frozenLeafCostsNoWeightGradient() {
        Tensor x = Scope.persistent(() -> Tensor.uniform(be, 2, -1f, 1f, 4, 3).requiresGrad(true));
        Tensor frozen = Scope.persistent(() -> Tensor.uniform(be, 3, -1f, 1f, 5, 3));
        try (Scope s = Scope.open()) {
            ElementwiseOps.gelu(BlasOps.linear(x, frozen, null)).sumAll().backward();
            assertNull(frozen.grad());
            assertTrue(x.grad() != null);
        } finally {
            x.close();
            frozen.close();
        }
    }

    @Test
    void backwardConsumesTheTapeAndFreesIntermediateGradients() {
        Tensor x = Scope.persistent(() -> Tensor.uniform(be, 2, -1f, 1f, 64, 64).requiresGrad(true));
        try (Scope s = Scope.open()) {
            Tensor y = ElementwiseOps.gelu(x.matmul(x));
            Tensor loss = y.sumAll();
            long before = be.memory().liveBytes();
            loss.backward();
            assertNull(y.node());
            assertNull(y.grad(), "an intermediate's gradient is freed once its node has run");
            // only x's gradient (64·64 floats) survives backward
            assertEquals(before + 64 * 64 * 4, be.memory().liveBytes());
        } finally {
            x.close();
        }
    }

    @Test
    void droppedDataFreesMemoryAndStillPassesGradients() {
        Tensor x = Scope.persistent(() -> Tensor.uniform(be, 4, -1f, 1f, 8, 16).requiresGrad(true));
        try (Scope s = Scope.open()) {
            Tensor p = x.permute(1, 0);
            Tensor y = p.scale(3f);
            long before = be.memory().liveBytes();
            p.dropData();
            assertEquals(before - 8 * 16 * 4, be.memory().liveBytes());
            assertThrows(IllegalStateException.class, p::toFloats);
            y.sumAll().backward();
            for (float g : x.grad().toFloats()) assertEquals(3f, g);
        } finally {
            x.close();
        }
    }
}
