package dma.engine;

import dma.engine.cpu.CpuBackend;

import java.util.List;

/** Finds backends by name. The CPU backend is always there; others report why they are not. */
public final class Backends {
    private Backends() {}

    public static List<String> names() {
        return List.of("cpu", "cuda");
    }

    public static Backend get(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "cpu" -> CpuBackend.get();
            case "cuda" -> throw new BackendUnavailableException(
                    "cuda: the CUDA backend is not built into this version yet (kernels not built); use --backend cpu");
            default -> throw new BackendUnavailableException("unknown backend '" + name + "'; choose one of " + names());
        };
    }
}
