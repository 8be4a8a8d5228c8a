package dma.trainer.data;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoadersTest {
    private static final int PIXELS = 3072;

    private static byte pixel(int file, int record, int p) { return (byte) (file * 31 + record * 17 + p); }

    /** {@code records} CIFAR records: label bytes (coarse, fine for CIFAR-100), then pixel(file, r, p). */
    private static void writeCifar(Path f, int file, int[][] labels) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int r = 0; r < labels.length; r++) {
            for (int l : labels[r]) out.write(l);
            for (int p = 0; p < PIXELS; p++) out.write(pixel(file, r, p));
        }
        Files.write(f, out.toByteArray());
    }

    private static void assertRecord(Dataset d, int i, int file, int record) {
        for (int p = 0; p < PIXELS; p += 97) assertEquals(pixel(file, record, p), d.images()[i * PIXELS + p], "image " + i + " pixel " + p);
    }

    private static String message(Runnable r) {
        return assertThrows(RuntimeException.class, r::run).getMessage();
    }

    @Test
    void cifar10BatchesLoadWithLabelsAndPixels(@TempDir Path root) throws IOException {
        Path dir = Files.createDirectories(root.resolve("cifar-10-batches-bin"));
        for (int b = 1; b <= 5; b++) writeCifar(dir.resolve("data_batch_" + b + ".bin"), b, new int[][]{{b}, {(b + 4) % 10}});
        writeCifar(dir.resolve("test_batch.bin"), 0, new int[][]{{9}, {0}, {3}});
        for (Split s : new Split[]{CifarBinary.load(dir), Datasets.load("cifar", root)}) { // the archive's folder or its parent
            assertEquals(10, s.train().size());
            assertEquals(3, s.test().size());
            assertEquals(3, s.train().channels());
            assertEquals(32, s.train().height());
            assertEquals(10, s.train().classes());
            assertArrayEquals(new int[]{1, 5, 2, 6, 3, 7, 4, 8, 5, 9}, s.train().labels());
            assertArrayEquals(new int[]{9, 0, 3}, s.test().labels());
            assertRecord(s.train(), 0, 1, 0);
            assertRecord(s.train(), 7, 4, 1);
            assertRecord(s.test(), 2, 0, 2);
        }
    }

    @Test
    void cifar100UsesTheFineLabel(@TempDir Path dir) throws IOException {
        writeCifar(dir.resolve("train.bin"), 1, new int[][]{{11, 57}, {19, 99}, {0, 3}});
        writeCifar(dir.resolve("test.bin"), 2, new int[][]{{4, 22}});
        Split s = CifarBinary.load(dir);
        assertEquals(100, s.train().classes());
        assertArrayEquals(new int[]{57, 99, 3}, s.train().labels());
        assertArrayEquals(new int[]{22}, s.test().labels());
        assertRecord(s.train(), 1, 1, 1);
        assertRecord(s.test(), 0, 2, 0);
    }

    @Test
    void truncatedCifarFileNamesTheFileItsSizeAndTheExpectedSize(@TempDir Path dir) throws IOException {
        for (int b = 1; b <= 5; b++) writeCifar(dir.resolve("data_batch_" + b + ".bin"), b, new int[][]{{1}, {2}});
        writeCifar(dir.resolve("test_batch.bin"), 0, new int[][]{{1}});
        Path bad = dir.resolve("data_batch_3.bin");
        Files.write(bad, java.util.Arrays.copyOf(Files.readAllBytes(bad), 2 * 3073 - 100));
        String m = message(() -> CifarBinary.load(dir));
        assertTrue(m.contains(bad.toString()) && m.contains("6046 bytes") && m.contains("expected 6146 bytes"), m);

        Files.delete(dir.resolve("test_batch.bin"));
        Files.write(bad, new byte[2 * 3073]);
        m = message(() -> CifarBinary.load(dir));
        assertTrue(m.contains(dir.resolve("test_batch.bin") + " is missing"), m);
        m = message(() -> CifarBinary.load(dir.resolve("nothing")));
        assertTrue(m.contains("nothing") && m.contains("data_batch_1..5.bin") && m.contains("train.bin"), m);
    }

    @Test
    void cifarLabelOutOfRangeNamesFileAndRecord(@TempDir Path dir) throws IOException {
        writeCifar(dir.resolve("train.bin"), 1, new int[][]{{0, 1}, {0, 100}});
        writeCifar(dir.resolve("test.bin"), 1, new int[][]{{0, 1}});
        String m = message(() -> CifarBinary.load(dir));
        assertTrue(m.contains(dir.resolve("train.bin").toString()) && m.contains("record 1 has label 100"), m);
    }

    private static byte[] idx(int[] dims, byte[] data) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x0800 | dims.length);
        for (int d : dims) out.writeInt(d);
        out.write(data);
        return bytes.toByteArray();
    }

    @Test
    void fashionMnistFromIdxFilesGzippedOrRaw(@TempDir Path dir) throws IOException {
        byte[] trainImages = new byte[3 * 2 * 2];
        for (int i = 0; i < trainImages.length; i++) trainImages[i] = (byte) (200 + i);
        try (OutputStream gz = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train-images-idx3-ubyte.gz")))) {
            gz.write(idx(new int[]{3, 2, 2}, trainImages));
        }
        Files.write(dir.resolve("train-labels-idx1-ubyte"), idx(new int[]{3}, new byte[]{9, 0, 4}));
        Files.write(dir.resolve("t10k-images-idx3-ubyte"), idx(new int[]{1, 2, 2}, new byte[]{1, 2, 3, 4}));
        String m = message(() -> FashionMnist.load(dir));
        assertTrue(m.contains(dir.resolve("t10k-labels-idx1-ubyte").toString()) && m.contains("missing"), m);

        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), idx(new int[]{1}, new byte[]{7}));
        Split s = Datasets.load("fashion_mnist", dir);
        assertEquals(1, s.train().channels());
        assertEquals(2, s.train().width());
        assertEquals(10, s.train().classes());
        assertArrayEquals(trainImages, s.train().images());
        assertArrayEquals(new int[]{9, 0, 4}, s.train().labels());
        assertArrayEquals(new int[]{7}, s.test().labels());

        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), idx(new int[]{2}, new byte[]{7, 7}));
        m = message(() -> FashionMnist.load(dir));
        assertTrue(m.contains("1 images") && m.contains("2 labels"), m);
    }

    @Test
    void realFashionMnistWhenInstalled() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEBIAN_DIR), "apt-get install dataset-fashion-mnist to run this test");
        Split s = FashionMnist.load(FashionMnist.DEBIAN_DIR);
        assertEquals(60000, s.train().size());
        assertEquals(10000, s.test().size());
        assertEquals(28, s.train().height());
        int[] per = new int[10];
        for (int y : s.test().labels()) per[y]++;
        assertArrayEquals(new int[]{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, per);
        assertEquals(0.2860, s.train().mean()[0], 1e-3); // the usual Fashion-MNIST normalization constants
        assertEquals(0.3530, s.train().std()[0], 1e-3);
    }

    @Test
    void unknownKindListsTheKinds() {
        String m = message(() -> Datasets.load("imagenet", Path.of("/tmp")));
        assertTrue(m.contains("imagenet") && m.contains("fashion_mnist, cifar, folder"), m);
    }

    private static void png(Path f, int w, int h, int type, int seed) throws IOException {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int v = (seed * 40 + y * 7 + x * 3) & 0xFF;
                if (type == BufferedImage.TYPE_BYTE_GRAY) img.getRaster().setSample(x, y, 0, v);
                else img.setRGB(x, y, v << 16 | ((v + 85) & 0xFF) << 8 | ((v + 170) & 0xFF));
            }
        Files.createDirectories(f.getParent());
        assertTrue(ImageIO.write(img, "png", f.toFile()));
    }

    private static int value(int seed, int y, int x) { return (seed * 40 + y * 7 + x * 3) & 0xFF; }

    @Test
    void imageFolderOfRgbPngs(@TempDir Path dir) throws IOException {
        int rgb = BufferedImage.TYPE_INT_RGB;
        png(dir.resolve("train/dog/a.png"), 5, 4, rgb, 1);
        png(dir.resolve("train/cat/b.png"), 5, 4, rgb, 2);
        png(dir.resolve("train/cat/a.png"), 5, 4, rgb, 3);
        Files.writeString(dir.resolve("train/cat/notes.txt"), "not an image");
        png(dir.resolve("val/dog/c.png"), 5, 4, rgb, 4);
        Split s = Datasets.load("folder", dir);
        Dataset t = s.train();
        assertEquals(3, t.channels());
        assertEquals(4, t.height());
        assertEquals(5, t.width());
        assertEquals(2, t.classes());
        assertArrayEquals(new int[]{0, 0, 1}, t.labels()); // cat (a, b), then dog
        int[] seeds = {3, 2, 1};
        for (int i = 0; i < 3; i++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 5; x++) {
                    int v = value(seeds[i], y, x), at = i * 60 + y * 5 + x;
                    assertEquals(v, t.images()[at] & 0xFF);
                    assertEquals((v + 85) & 0xFF, t.images()[at + 20] & 0xFF);
                    assertEquals((v + 170) & 0xFF, t.images()[at + 40] & 0xFF);
                }
        assertArrayEquals(new int[]{1}, s.test().labels());
        assertEquals(value(4, 3, 4), s.test().images()[19] & 0xFF);
    }

    @Test
    void imageFolderOfGrayPngsHasOneChannelAndMixedGivesRgb(@TempDir Path dir) throws IOException {
        int gray = BufferedImage.TYPE_BYTE_GRAY;
        png(dir.resolve("train/a/1.png"), 3, 2, gray, 5);
        png(dir.resolve("train/b/1.png"), 3, 2, gray, 6);
        png(dir.resolve("test/b/1.png"), 3, 2, gray, 7);
        Split s = ImageFolder.load(dir);
        assertEquals(1, s.train().channels());
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) {
                assertEquals(value(6, y, x), s.train().images()[6 + y * 3 + x] & 0xFF, "stored gray values, not sRGB-converted");
                assertEquals(value(7, y, x), s.test().images()[y * 3 + x] & 0xFF);
            }
        assertEquals("test", s.test().name().substring(s.test().name().lastIndexOf('/') + 1));

        png(dir.resolve("test/a/2.png"), 3, 2, BufferedImage.TYPE_INT_RGB, 8);
        s = ImageFolder.load(dir);
        assertEquals(3, s.train().channels());
        for (int c = 0; c < 3; c++) assertEquals(value(5, 1, 2), s.train().images()[c * 6 + 5] & 0xFF, "gray copied to each channel");
    }

    @Test
    void imageFolderWithMismatchedSizesNamesTheFileAndBothSizes(@TempDir Path dir) throws IOException {
        png(dir.resolve("train/a/1.png"), 4, 4, BufferedImage.TYPE_INT_RGB, 1);
        png(dir.resolve("train/b/odd.png"), 4, 3, BufferedImage.TYPE_INT_RGB, 1);
        png(dir.resolve("val/a/1.png"), 4, 4, BufferedImage.TYPE_INT_RGB, 1);
        String m = message(() -> ImageFolder.load(dir));
        assertTrue(m.contains(dir.resolve("train/b/odd.png").toString()) && m.contains("4×3") && m.contains("4×4")
                && m.contains(dir.resolve("train/a/1.png").toString()), m);
        Files.delete(dir.resolve("train/b/odd.png"));
        Files.writeString(dir.resolve("train/b/broken.png"), "not a png");
        m = message(() -> ImageFolder.load(dir));
        assertTrue(m.contains(dir.resolve("train/b/broken.png").toString()), m);
    }
}
