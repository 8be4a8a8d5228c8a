package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Test;

/** AdamW and SGD on CUDA against the CPU reference, several steps, sizes that do not fill a block. */
class OptimParityTest {
    @Test
    void adamwMatchesCpuOverSteps() {
        Parity p = Parity.cuda();
        for (int n : new int[]{1, 255, 1000, 70_001}) {
            Storage[] param = p.pair(Parity.random(n)), m = p.pair(new float[n]), v = p.pair(new float[n]);
            for (int step = 1; step <= 3; step++) {
                Storage[] g = p.pair(Parity.random(n));
                p.cpu.optim().adamw(param[0], g[0], m[0], v[0], n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                p.gpu.optim().adamw(param[1], g[1], m[1], v[1], n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                Parity.free(g);
            }
            p.assertClose(param, n, Parity.F32, "adamw param n=" + n);
            p.assertClose(m, n, Parity.F32, "adamw m n=" + n);
            p.assertClose(v, n, Parity.F32, "adamw v n=" + n);
            Parity.free(param, m, v);
        }
    }

    @Test
    void sgdMatchesCpuWithAndWithoutNesterov() {
        Parity p = Parity.cuda();
        for (boolean nesterov : new boolean[]{false, true})
            for (int n : new int[]{3, 4097}) {
                Storage[] param = p.pair(Parity.random(n)), buf = p.output(n);
                for (int step = 0; step < 3; step++) {
                    Storage[] g = p.pair(Parity.random(n));
                    p.cpu.optim().sgd(param[0], g[0], buf[0], n, 0.1f, 0.9f, 5e-4f, nesterov, step == 0);
                    p.gpu.optim().sgd(param[1], g[1], buf[1], n, 0.1f, 0.9f, 5e-4f, nesterov, step == 0);
                    Parity.free(g);
                }
                p.assertClose(param, n, Parity.F32, "sgd param nesterov=" + nesterov + " n=" + n);
                p.assertClose(buf, n, Parity.F32, "sgd momentum nesterov=" + nesterov + " n=" + n);
                Parity.free(param, buf);
            }
    }
}
