package dma.trainer.data;

import java.nio.file.Path;
import java.util.List;

/** Chooses a loader by name. */
public final class Datasets {
    /** The kinds {@link #load} accepts. */
    public static final List<String> KINDS = List.of("fashion_mnist", "cifar", "folder");

    private Datasets() {}

    public static Split load(String kind, Path dir) {
        return switch (kind) {
            case "fashion_mnist" -> FashionMnist.load(dir);
            case "cifar" -> CifarBinary.load(dir);
            case "folder" -> ImageFolder.load(dir);
            default -> throw new IllegalArgumentException("unknown dataset kind '" + kind + "'; expected one of " + String.join(", ", KINDS));
        };
    }
}
