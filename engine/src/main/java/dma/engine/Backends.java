package dma.engine;

import dma.engine.cpu.CpuBackend;

import java.util.List;

/** Finds backends by name. The CPU backend is always there; others report why they are not. */
public final class Backends {
    private Backends() {}

    public static List<String> names() {
        return List.of("cpu", "cuda");
    }

    /** Null when {@code name} can be opened here, else why not (tests skip with it; doctor prints it). */
    public static String unavailableReason(String name) {
        try {
            get(name);
            return null;
        } catch (BackendUnavailableException e) {
            return e.getMessage();
        }
    }

    /** The backend {@code name} with its default settings (the CPU's: DMA_THREADS, else all cores). */
    public static Backend get(String name) {
        return switch (key(name)) {
            case "cpu" -> CpuBackend.get();
            case "cuda" -> dma.engine.cuda.CudaBackend.get();
            default -> throw unknown(name);
        };
    }

    /**
     * The backend {@code name} whose host-side kernels run on {@code threads} threads (≥ 1): for "cpu",
     * {@link CpuBackend#withThreads}. CUDA's kernels run on the device whatever the count, so "cuda" gives its one
     * backend, as {@link #get(String)} does (the count is checked, then not used).
     */
    public static Backend get(String name, int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be ≥ 1, got " + threads);
        return switch (key(name)) {
            case "cpu" -> CpuBackend.withThreads(threads);
            case "cuda" -> dma.engine.cuda.CudaBackend.get();
            default -> throw unknown(name);
        };
    }

    private static String key(String name) {
        return name.toLowerCase(java.util.Locale.ROOT);
    }

    private static BackendUnavailableException unknown(String name) {
        return new BackendUnavailableException("unknown backend '" + name + "'; choose one of " + names());
    }
}
