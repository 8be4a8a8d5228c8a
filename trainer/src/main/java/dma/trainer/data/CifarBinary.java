package dma.trainer.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10 or CIFAR-100 in the binary format of cs.toronto.edu/~kriz/cifar.html: fixed-size records of
 * label byte(s) then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each row-major 32×32), which is
 * already our [c, h, w] layout. CIFAR-10: {@code data_batch_1..5.bin} + {@code test_batch.bin}, one label byte.
 * CIFAR-100: {@code train.bin} + {@code test.bin}, a coarse and a fine label byte (we use the fine one).
 * The directory may also be the parent of the archives' {@code cifar-10-batches-bin} or {@code cifar-100-binary}.
 */
public final class CifarBinary {
    private static final int PIXELS = 3 * 32 * 32;

    private CifarBinary() {}

    public static Split load(Path dir) {
        for (Path d : new Path[]{dir, dir.resolve("cifar-10-batches-bin"), dir.resolve("cifar-100-binary")}) {
            if (Files.isRegularFile(d.resolve("data_batch_1.bin"))) {
                List<Path> train = new ArrayList<>();
                for (int i = 1; i <= 5; i++) train.add(d.resolve("data_batch_" + i + ".bin"));
                return new Split(read("cifar10/train", train, 1, 10), read("cifar10/test", List.of(d.resolve("test_batch.bin")), 1, 10));
            }
            if (Files.isRegularFile(d.resolve("train.bin")))
                return new Split(read("cifar100/train", List.of(d.resolve("train.bin")), 2, 100),
                        read("cifar100/test", List.of(d.resolve("test.bin")), 2, 100));
        }
        throw new IllegalArgumentException(dir + (Files.isDirectory(dir) ? "" : " does not exist;")
                + " expected CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin) or CIFAR-100 binary files (train.bin, test.bin)"
                + " there or in its cifar-10-batches-bin/ or cifar-100-binary/");
    }

    /** Reads and concatenates files of records with {@code labelBytes} label bytes, the last of which is the label. */
    private static Dataset read(String name, List<Path> files, int labelBytes, int classes) {
        int record = labelBytes + PIXELS;
        long total = 0;
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + " is missing");
            long size = size(f);
            if (size == 0 || size % record != 0) {
                long whole = Math.max(1, (size + record - 1) / record);
                throw new IllegalArgumentException(f + ": " + size + " bytes is not a whole number of " + record + "-byte records ("
                        + labelBytes + " label byte(s) + " + PIXELS + " pixels); truncated? expected " + whole * record
                        + " bytes for " + whole + " record(s)");
            }
            total += size / record;
        }
        if (total * PIXELS > Integer.MAX_VALUE - 8) throw new IllegalArgumentException(files + ": " + total + " images are too many to hold");
        byte[] images = new byte[(int) total * PIXELS];
        int[] labels = new int[(int) total];
        int n = 0;
        for (Path f : files) {
            byte[] bytes = readAll(f);
            for (int r = 0; r < bytes.length / record; r++, n++) {
                int at = r * record, label = bytes[at + labelBytes - 1] & 0xFF;
                if (label >= classes)
                    throw new IllegalArgumentException(f + ": record " + r + " has label " + label + ", outside [0, " + classes + ")");
                labels[n] = label;
                System.arraycopy(bytes, at + labelBytes, images, n * PIXELS, PIXELS);
            }
        }
        return new Dataset(name, 3, 32, 32, classes, images, labels);
    }

    private static long size(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            throw new UncheckedIOException(f + ": " + e.getMessage(), e);
        }
    }

    private static byte[] readAll(Path f) {
        try {
            return Files.readAllBytes(f);
        } catch (IOException e) {
            throw new UncheckedIOException(f + ": " + e.getMessage(), e);
        }
    }
}
