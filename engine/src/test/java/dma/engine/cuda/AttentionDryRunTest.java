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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attention's kernels through a dry-run backend (no GPU): the row softmax and its backward launch a warp per row
 * with the kernels' argument types (checked by {@link KernelBuildTest.Recorder}); empty attention launches nothing.
 * The GEMMs between them are cuBLAS's, which a dry run cannot reach (the parity tests run them on a GPU).
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
    void theRowKernelsLaunchAWarpPerRow() {
        CudaAttention attention = (CudaAttention) be.attention();
        // rows, cols: DeiT-S's scores at batch 128 (768 × 197 rows), one row, rows of one element
        for (int[] c : new int[][]{{768 * 197, 197}, {1, 50}, {5, 1}}) {
            int rows = c[0], cols = c[1];
            Storage p = b(rows * cols), g = b(rows * cols);
            attention.softmaxRows(p, rows, cols);
            attention.softmaxBackwardRows(p, g, rows, cols);
            assertEquals(2, launches.size());
            for (Launch l : launches) {
                String what = l.kernel + " " + rows + "×" + cols;
                assertEquals(128, l.block, what + ": block");
                assertEquals(0, l.sharedBytes, what + ": shared memory");
                assertEquals(be.blocksFor(32L * rows, 128), l.gridX, what + ": grid");
                assertEquals(List.of(rows, cols), List.of(l.args[l.args.length - 2], l.args[l.args.length - 1]), what + ": sizes");
            }
            assertEquals(List.of("attention.softmax_rows_in_place", "attention.softmax_backward_rows_in_place"),
                    launches.stream().map(Launch::kernel).toList());
            launches.clear();
        }
    }

    @Test
    void emptyAttentionOrNoGradientLaunchesNothing() {
        be.attention().attention(b(1), 0, b(1), 0, b(1), 0, b(1), b(1), 0, 197, 64, 0.125f);
        be.attention().attention(b(1), 0, b(1), 0, b(1), 0, b(1), b(1), 4, 0, 64, 0.125f);
        be.attention().attentionBackward(b(1), 0, b(1), 0, b(1), 0, b(1), b(1), null, null, null, 6, 197, 64, 0.125f);
        assertEquals(List.of(), launches);
    }

    private Storage b(int floats) {
        return buf(be, floats);
    }
}
