package dma.engine.cuda;

import dma.engine.Backend;
import dma.engine.Storage;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What can be checked of the CUDA kernels without a GPU: they compiled for sm_90 with no register spills, and
 * every launch the Java families make names a compiled kernel with arguments of the kernel's types (a dry-run
 * backend drives each family and checks each launch against the PTX signatures).
 */
class KernelBuildTest {
    private static String resource(String name) throws IOException {
        try (InputStream in = KernelBuildTest.class.getClassLoader().getResourceAsStream("dma/kernels/" + name)) {
            Assumptions.assumeTrue(in != null, "kernels not built here (no nvcc when the kernels module was built)");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyKernelAssembledForSm90WithoutSpills() throws IOException {
        String report = resource("ptxas.txt");
        List<String> spilled = new ArrayList<>();
        int kernels = 0;
        for (String line : report.split("\n")) {
            if (line.isBlank()) continue;
            kernels++;
            assertTrue(line.contains(" sm_90 "), "ptxas line for a target other than sm_90: " + line);
            if (!line.contains("spill_stores=0 spill_loads=0")) spilled.add(line);
        }
        assertEquals(KernelSignatures.all().size(), kernels, "one ptxas report line per compiled kernel");
        assertTrue(spilled.isEmpty(), "kernels with register spills:\n" + String.join("\n", spilled));
    }

    /** One naming style for entry points (common.cuh, beside DMA_KERNEL): snake_case, as llm.c's kernels. */
    @Test
    void everyKernelIsNamedInSnakeCase() throws IOException {
        resource("signatures.txt");
        List<String> other = new ArrayList<>();
        for (String name : KernelSignatures.all().keySet()) {
            String kernel = name.substring(name.indexOf('.') + 1);
            if (!kernel.matches("[a-z][a-z0-9]*(_[a-z0-9]+)*")) other.add(name);
        }
        other.sort(null);
        assertTrue(other.isEmpty(), "kernels not named in snake_case: " + other);
    }

    /** Records launches after checking them against the signatures; a dry run computes nothing. */
    static final class Recorder implements Launcher {
        final List<String> launched = new ArrayList<>();

        @Override
        public void launch(String module, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
            KernelSignatures.check(module + "." + kernel, args);
            assertTrue(gridX >= 1 && gridY >= 1 && gridY <= 65535, module + "." + kernel + ": grid (" + gridX + ", " + gridY + ")");
            assertTrue(block >= 1 && block <= 1024, module + "." + kernel + ": block " + block);
            assertTrue(sharedBytes >= 0 && sharedBytes <= 48 * 1024, module + "." + kernel + ": shared memory " + sharedBytes + " B over 48 KiB");
            launched.add(module + "." + kernel);
        }

        @Override
        public int multiprocessors() {
            return 132;
        }
    }

    static Storage buf(Backend be, int floats) {
        return be.allocate(4L * Math.max(floats, 1));
    }

    @Test
    void optimLaunchesMatchTheirKernels() throws IOException {
        resource("signatures.txt");
        Recorder r = new Recorder();
        CudaBackend be = CudaBackend.dryRun(r);
        int n = 1000;
        be.optim().adamw(buf(be, n), buf(be, n), buf(be, n), buf(be, n), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 3);
        be.optim().sgd(buf(be, n), buf(be, n), buf(be, n), n, 0.1f, 0.9f, 5e-4f, true, false);
        assertEquals(List.of("optim.adamw", "optim.sgd"), r.launched);
    }

    @Test
    void aWrongArgumentTypeIsCaughtByName() throws IOException {
        resource("signatures.txt");
        var e = org.junit.jupiter.api.Assertions.assertThrows(CudaException.class,
                () -> KernelSignatures.check("optim.sgd", new Object[]{null, null, null, 1, 0.1, 0.9f, 0f, 0, 0}));
        assertTrue(e.getMessage().contains("argument 4") && e.getMessage().contains(".f32"), e.getMessage());
        assertFalse(KernelSignatures.all().isEmpty());
        assertTrue(Map.copyOf(KernelSignatures.all()).containsKey("optim.adamw"));
    }
}
