package dma.engine;

import dma.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The op profile counts every op's forward and every node's backward, and the caller's marks, while it is open. */
class OpProfileTest {
    private final Backend be = CpuBackend.get();

    private void step(Tensor w) {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.normal(be, 1, 0f, 1f, 4, 3);
            x.mul(w).mul(w).sumAll().backward();
        }
    }

    @Test
    void countsForwardsBackwardsAndMarks() {
        Tensor w = Scope.persistent(() -> Tensor.normal(be, 2, 0f, 1f, 4, 3).requiresGrad(true));
        step(w); // outside a profile: not counted
        List<OpProfile.Row> rows;
        try (OpProfile p = OpProfile.open(be)) {
            assertTrue(OpProfile.active());
            assertThrows(IllegalStateException.class, () -> OpProfile.open(be), "one profile at a time");
            for (int i = 0; i < 3; i++) {
                step(w);
                OpProfile.mark("optimizer step");
                p.pause();
                assertFalse(OpProfile.active());
                step(w); // paused: not counted
                p.resume();
            }
            rows = p.rows();
            String table = p.table(3, 2);
            assertTrue(table.contains("more rows") && table.contains("in all"), table);
        }
        assertFalse(OpProfile.active());
        step(w); // after close: not counted
        Map<String, Long> calls = rows.stream().collect(Collectors.toMap(
                r -> (r.phase() + " " + r.op() + " " + r.shape()).trim(), OpProfile.Row::calls, Long::sum));
        assertEquals(6L, calls.get("forward mul [4, 3]"), calls.toString());
        assertEquals(6L, calls.get("backward mul [4, 3]"), calls.toString());
        assertEquals(3L, calls.get("forward sum []"), calls.toString());
        assertEquals(3L, calls.get("optimizer step"), calls.toString());
        for (int i = 1; i < rows.size(); i++) assertTrue(rows.get(i - 1).nanos() >= rows.get(i).nanos(), "the most time first");
        w.close();
    }
}
