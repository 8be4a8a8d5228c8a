package dma.trainer.data;

import java.nio.file.Files;
import java.nio.file.Path;

/** Fashion-MNIST (or MNIST) from a directory of IDX files; by default Debian's package dataset-fashion-mnist. */
public final class FashionMnist {
    public static final Path DEBIAN_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

    /** Images as unsigned bytes [n, 28·28] and labels [n]. */
    public record Split(byte[] images, byte[] labels, int count, int height, int width) {}

    private FashionMnist() {}

    public static Split load(Path dir, boolean train) {
        if (!Files.isDirectory(dir))
            throw new IllegalArgumentException("dataset directory " + dir + " does not exist"
                    + (dir.equals(DEBIAN_DIR) ? " (install it with: apt-get install dataset-fashion-mnist)" : ""));
        String prefix = train ? "train" : "t10k";
        Idx.Array images = Idx.read(find(dir, prefix + "-images-idx3-ubyte"));
        Idx.Array labels = Idx.read(find(dir, prefix + "-labels-idx1-ubyte"));
        if (images.dims().length != 3) throw new IllegalArgumentException(dir + ": " + prefix + " images must be [n, h, w]");
        if (images.count() != labels.count())
            throw new IllegalArgumentException(dir + ": " + images.count() + " " + prefix + " images but " + labels.count() + " labels");
        return new Split(images.data(), labels.data(), images.count(), images.dims()[1], images.dims()[2]);
    }

    private static Path find(Path dir, String stem) {
        for (String name : new String[]{stem + ".gz", stem}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        throw new IllegalArgumentException(dir + ": missing " + stem + "(.gz)");
    }
}
