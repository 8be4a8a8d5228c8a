package dma.trainer.data;

import java.nio.file.Files;
import java.nio.file.Path;

/** Fashion-MNIST (or MNIST) from a directory of IDX files, gzipped or raw; by default Debian's package dataset-fashion-mnist. */
public final class FashionMnist {
    public static final Path DEBIAN_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

    private FashionMnist() {}

    /** Training (train-*) and test (t10k-*) sets as 1×h×w images (28×28 for Fashion-MNIST), 10 classes. */
    public static Split load(Path dir) {
        checkDirectory(dir);
        return new Split(part(dir, "train"), part(dir, "t10k"));
    }

    private static void checkDirectory(Path dir) {
        if (!Files.isDirectory(dir))
            throw new IllegalArgumentException("Fashion-MNIST directory " + dir + " does not exist"
                    + " (Debian's copy: apt-get install dataset-fashion-mnist, then use " + DEBIAN_DIR + ")");
    }

    private static Dataset part(Path dir, String prefix) {
        Path imageFile = find(dir, prefix + "-images-idx3-ubyte"), labelFile = find(dir, prefix + "-labels-idx1-ubyte");
        Idx.Array images = Idx.read(imageFile), labels = Idx.read(labelFile);
        if (images.dims().length != 3)
            throw new IllegalArgumentException(imageFile + ": images must have dimensions [n, h, w], found " + java.util.Arrays.toString(images.dims()));
        if (labels.dims().length != 1)
            throw new IllegalArgumentException(labelFile + ": labels must have dimensions [n], found " + java.util.Arrays.toString(labels.dims()));
        if (images.count() != labels.count())
            throw new IllegalArgumentException(imageFile + " holds " + images.count() + " images but " + labelFile + " holds " + labels.count() + " labels");
        int[] y = new int[labels.count()];
        for (int i = 0; i < y.length; i++) {
            y[i] = labels.data()[i] & 0xFF;
            if (y[i] >= CLASSES.length)
                throw new IllegalArgumentException(labelFile + ": label " + y[i] + " at index " + i + " is outside [0, " + CLASSES.length + ")");
        }
        return new Dataset("fashion_mnist/" + (prefix.equals("train") ? "train" : "test"), 1, images.dims()[1], images.dims()[2],
                CLASSES.length, images.data(), y);
    }

    private static Path find(Path dir, String stem) {
        for (String name : new String[]{stem + ".gz", stem}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        throw new IllegalArgumentException(dir.resolve(stem) + "(.gz) is missing");
    }
}
