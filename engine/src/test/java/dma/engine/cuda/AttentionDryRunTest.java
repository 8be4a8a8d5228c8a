package dma.engine.cuda;

import dma.engine.Storage;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

import static dma.engine.cuda.KernelBuildTest.buf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused attention forward through a dry-run backend (no GPU): within its limits attention() is that one launch,
 * with the kernel's argument types (checked by {@link KernelBuildTest.Recorder}), a block per 16 query rows of each
 * (batch, head), 128 threads and the shared memory of its layout, never over 48 KiB; past the limits it takes the
 * composed form, whose first step is a cuBLAS GEMM, which a dry run cannot reach.
 */
class AttentionDryRunTest {
    /** One launch as the backend handed it over. */
    record Launch(String kernel, int gridX, int gridY, int block, int sharedBytes, Object[] args) {}

    private final List<Launch> launches = new ArrayList<>();
    private CudaBackend be;

    @BeforeEach
    void dryRun() throws IOException {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("dma/kernels/signatures.txt")) {
            Assumptions.assumeTrue(in != null, "kernels not built here (no nvcc when the kernels module was built)");
        }
        KernelBuildTest.Recorder checks = new KernelBuildTest.Recorder();
        be = CudaBackend.dryRun(new Launcher() {
            @Override
            public void launch(String module, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
                checks.launch(module, kernel, gridX, gridY, block, sharedBytes, args);
                launches.add(new Launch(module + "." + kernel, gridX, gridY, block, sharedBytes, args));
            }

            @Override
            public int multiprocessors() {
                return checks.multiprocessors();
            }
        });
    }

    @Test
    void withinItsLimitsTheForwardIsOneFusedLaunch() {
        // bh, t, d, expected grid (bh × ⌈t / 16⌉, capped at 32 blocks per multiprocessor), expected shared bytes
        int[][] cases = {
                {768, 197, 64, 4224, 4 * (32 * 68 + 16 * 64 + 16 * 197)},   // ViT-S/16 at 224², batch 128: capped grid
                {6, 50, 64, 6 * 4, 4 * (32 * 68 + 16 * 64 + 16 * 50)},      // the Fashion-MNIST ViT
                {3, 1, 16, 3, 4 * (32 * 20 + 16 * 16 + 16)},                 // a single token
                {2, 7, 80, 2, 4 * (32 * 84 + 16 * 80 + 16 * 7)},             // 80 ≡ 0 mod 8: the tile stride is padded
                {5, 17, 5, 10, 4 * (32 * 12 + 16 * 8 + 16 * 17)},            // d rounded up to a float4
                {1, 256, 128, 16, 4 * (32 * 132 + 16 * 128 + 16 * 256)},     // both limits
        };
        for (int[] c : cases) {
            int bh = c[0], t = c[1], d = c[2];
            Storage q = b(bh * t * d), k = b(bh * t * d), v = b(bh * t * d), out = b(bh * t * d), probs = b(bh * t * t);
            be.attention().attention(q, k, v, out, probs, bh, t, d, 0.125f);
            assertEquals(1, launches.size(), "one launch for " + bh + "×" + t + "×" + d);
            Launch l = launches.remove(0);
            String what = l.kernel + " " + bh + "×" + t + "×" + d;
            assertEquals("attention.attentionForwardFused", l.kernel);
            assertEquals(c[3], l.gridX, what + ": grid");
            assertEquals(1, l.gridY, what + ": grid y");
            assertEquals(128, l.block, what + ": block");
            assertEquals(c[4], l.sharedBytes, what + ": shared memory");
            assertEquals(CudaAttention.fusedSharedBytes(t, d), l.sharedBytes, what);
            assertTrue(l.sharedBytes <= 48 * 1024, what + ": " + l.sharedBytes + " B of shared memory");
            Object[] a = l.args;
            assertEquals(List.of(bh, t, d, 0.125f), List.of(a[5], a[6], a[7], a[8]), what + ": sizes and scale");
            for (int i = 0; i < 5; i++) assertTrue(a[i] != null, what + ": pointer " + i);
        }
    }

    @Test
    void theLargestFusedShapeFitsItsSharedMemory() {
        int most = 0;
        for (int t = 1; t <= CudaAttention.FUSED_MAX_T; t++)
            for (int d = 0; d <= CudaAttention.FUSED_MAX_D; d++) most = Math.max(most, CudaAttention.fusedSharedBytes(t, d));
        assertEquals(CudaAttention.fusedSharedBytes(256, 128), most);
        assertTrue(most <= 48 * 1024, most + " B");
    }

    @Test
    void pastItsLimitsTheComposedFormIsChosen() {
        assertTrue(CudaAttention.fusedFits(256, 128));
        assertFalse(CudaAttention.fusedFits(257, 64));
        assertFalse(CudaAttention.fusedFits(197, 129));
        // the composed form starts with cuBLAS, which a dry run has no device for: it fails before any kernel launch
        int[][] past = {{2, 257, 64}, {2, 50, 129}};
        for (int[] c : past) {
            int bh = c[0], t = c[1], d = c[2];
            assertThrows(RuntimeException.class,
                    () -> be.attention().attention(b(bh * t * d), b(bh * t * d), b(bh * t * d), b(bh * t * d), b(bh * t * t), bh, t, d, 0.1f));
            assertEquals(List.of(), launches, "no fused launch for " + bh + "×" + t + "×" + d);
        }
        // asked for directly past its limits, the fused kernel refuses by name
        CudaAttention attention = (CudaAttention) be.attention();
        var e = assertThrows(IllegalArgumentException.class,
                () -> attention.attentionFused(b(1), b(1), b(1), b(1), b(1), 1, 257, 64, 0.1f));
        assertTrue(e.getMessage().contains("t = 257"), e.getMessage());
        assertEquals(List.of(), launches);
    }

    @Test
    void emptyAttentionLaunchesNothing() {
        be.attention().attention(b(1), b(1), b(1), b(1), b(1), 0, 197, 64, 0.125f);
        be.attention().attention(b(1), b(1), b(1), b(1), b(1), 4, 0, 64, 0.125f);
        assertEquals(List.of(), launches);
    }

    private Storage b(int floats) {
        return buf(be, floats);
    }
}
