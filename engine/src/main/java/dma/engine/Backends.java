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

    public static Backend get(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "cpu" -> CpuBackend.get();
            case "cuda" -> dma.engine.cuda.CudaBackend.get();
            default -> throw new BackendUnavailableException("unknown backend '" + name + "'; choose one of " + names());
        };
    }
}
