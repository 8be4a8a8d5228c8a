package dma.trainer.data;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Images in class folders: {@code train/<class>/*.png|jpg|jpeg} and {@code val/<class>/*} (or {@code test/}).
 * Classes are the training folder's subdirectories in sorted order. Every image must have the same size;
 * the set has 1 channel when every image is grayscale, else 3 (RGB; alpha is dropped).
 *
 * <p>A folder or image that is not what it should be is an IllegalArgumentException naming the file (a directory
 * that cannot be listed, an UncheckedIOException). Each image is a PNG or a JPEG whatever its name, and its header's
 * size is checked against the file's before it is decoded: see {@link #MAX_PIXELS_PER_FILE_BYTE}.
 */
public final class ImageFolder {
    /**
     * The most pixels an image may claim per byte of its file: 8,256, the densest a PNG can be (deflate packs at most
     * 1,032 bytes into one, and a 1-bit image 8 pixels into a byte; a JPEG needs at least a bit per 8×8 block). A header
     * claiming more describes no real image, and would have the decoder allocate its raster from the claim alone.
     */
    public static final long MAX_PIXELS_PER_FILE_BYTE = 8L * 1032;
    /** The most pixels of one image: 8192 × 8192, far beyond a training image; 3 bytes a pixel still fit an array. */
    public static final long MAX_PIXELS = 1L << 26;

    private ImageFolder() {}

    /** One decoded image: gray (h·w bytes) or RGB (3·h·w bytes, planar). */
    private record Image(Path file, int width, int height, boolean gray, byte[] pixels) {}

    public static Split load(Path dir) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("image folder " + dir + " does not exist");
        Path trainDir = dir.resolve("train"), testDir = dir.resolve("val");
        if (!Files.isDirectory(testDir)) testDir = dir.resolve("test");
        if (!Files.isDirectory(trainDir)) throw new IllegalArgumentException(trainDir + " is missing (expected train/<class>/*.png|jpg)");
        if (!Files.isDirectory(testDir)) throw new IllegalArgumentException(dir + " has neither val/ nor test/ (expected val/<class>/*.png|jpg)");
        List<String> classes = list(trainDir).stream().filter(Files::isDirectory).map(p -> p.getFileName().toString()).toList();
        if (classes.isEmpty()) throw new IllegalArgumentException(trainDir + " has no class folders");
        for (Path p : list(testDir))
            if (Files.isDirectory(p) && !classes.contains(p.getFileName().toString()))
                throw new IllegalArgumentException(p + " is a class that " + trainDir + " does not have");

        List<Image> train = new ArrayList<>(), test = new ArrayList<>();
        List<Integer> trainLabels = new ArrayList<>(), testLabels = new ArrayList<>();
        Image[] first = new Image[1];
        for (int c = 0; c < classes.size(); c++) {
            readClass(trainDir.resolve(classes.get(c)), c, train, trainLabels, first);
            Path t = testDir.resolve(classes.get(c));
            if (Files.isDirectory(t)) readClass(t, c, test, testLabels, first);
        }
        if (train.isEmpty()) throw new IllegalArgumentException(trainDir + " holds no .png/.jpg images");
        int channels = Stream.concat(train.stream(), test.stream()).allMatch(Image::gray) ? 1 : 3;
        String name = dir.getFileName() == null ? "folder" : dir.getFileName().toString();
        int h = first[0].height(), w = first[0].width(), k = classes.size();
        return new Split(dataset(name + "/train", train, trainLabels, k, channels, h, w),
                dataset(name + "/" + testDir.getFileName(), test, testLabels, k, channels, h, w));
    }

    private static void readClass(Path classDir, int label, List<Image> out, List<Integer> labels, Image[] first) {
        for (Path f : list(classDir)) {
            String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
            if (n.startsWith(".") || !(n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg")) || !Files.isRegularFile(f)) continue;
            Image img = decode(f);
            if (first[0] == null) first[0] = img;
            else if (img.width() != first[0].width() || img.height() != first[0].height())
                throw new IllegalArgumentException(f + " is " + img.width() + "×" + img.height() + " but " + first[0].file() + " is "
                        + first[0].width() + "×" + first[0].height() + "; all images must have one size");
            out.add(img);
            labels.add(label);
        }
    }

    private static Image decode(Path f) {
        BufferedImage img = read(f);
        int w = img.getWidth(), h = img.getHeight();
        ColorModel cm = img.getColorModel();
        if (cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY && cm.getNumColorComponents() == 1) {
            // The raster's gray values as stored: getRGB would pass them through a linear-gray to sRGB conversion.
            Raster r = img.getRaster();
            int bits = cm.getComponentSize(0);
            double scale = 255.0 / ((1L << bits) - 1);
            byte[] px = new byte[h * w];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) px[y * w + x] = (byte) Math.round(r.getSample(x, y, 0) * scale);
            return new Image(f, w, h, true, px);
        }
        int plane = h * w;
        byte[] px = new byte[3 * plane];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int p = y * w + x, argb = row[x];
                px[p] = (byte) (argb >> 16);
                px[plane + p] = (byte) (argb >> 8);
                px[2 * plane + p] = (byte) argb;
            }
        }
        return new Image(f, w, h, false, px);
    }

    /**
     * The PNG or JPEG in {@code f}, decoded once its header's size is known to fit the file. The JDK's decoders report a
     * malformed image with an IIOException, and some malformations with a RuntimeException of their own: both are this
     * file's fault, an IllegalArgumentException naming it.
     */
    private static BufferedImage read(Path f) {
        long bytes;
        try {
            bytes = Files.size(f);
        } catch (IOException e) {
            throw new UncheckedIOException(f + ": " + e.getMessage(), e);
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(f.toFile())) {
            ImageReader reader = pngOrJpegReader(f, in);
            try {
                reader.setInput(in, true, true);
                long w = decoding(f, () -> reader.getWidth(0)), h = decoding(f, () -> reader.getHeight(0));
                long pixels = w * h; // each below 2^31
                if (w < 1 || h < 1 || pixels > MAX_PIXELS || pixels > MAX_PIXELS_PER_FILE_BYTE * bytes)
                    throw new IllegalArgumentException(f + ": its header claims " + w + "×" + h + " pixels, more than " + (pixels > MAX_PIXELS
                            ? "the " + MAX_PIXELS + " an image may have" : "a " + bytes + "-byte PNG or JPEG can hold (" + MAX_PIXELS_PER_FILE_BYTE + " a byte)"));
                return decoding(f, () -> reader.read(0));
            } finally {
                reader.dispose();
            }
        } catch (IOException e) { // closing the stream
            throw new UncheckedIOException(f + ": " + e.getMessage(), e);
        }
    }

    /** The first reader of the PNG and JPEG readers that take the file, or an IllegalArgumentException. */
    private static ImageReader pngOrJpegReader(Path f, ImageInputStream in) {
        if (in == null) throw new IllegalArgumentException(f + ": javax.imageio cannot open it");
        ImageReader reader = decoding(f, () -> {
            for (Iterator<ImageReader> it = ImageIO.getImageReaders(in); it.hasNext(); ) {
                ImageReader r = it.next();
                String format = r.getFormatName().toLowerCase(Locale.ROOT);
                if (format.equals("png") || format.equals("jpeg")) return r;
                r.dispose();
            }
            return null;
        });
        if (reader == null) throw new IllegalArgumentException(f + ": not a PNG or JPEG image");
        return reader;
    }

    /** A step of a JDK image decoder; what it throws is the file's fault (see {@link #read}). */
    private interface DecoderStep<T> {
        T run() throws IOException;
    }

    private static <T> T decoding(Path f, DecoderStep<T> step) {
        try {
            return step.run();
        } catch (IOException | RuntimeException e) {
            String why = (e instanceof IOException && e.getMessage() != null ? e.getMessage() : e.toString()).replaceAll("\\s+", " ");
            throw new IllegalArgumentException(f + ": cannot decode it as a PNG or JPEG: " + why, e);
        }
    }

    private static Dataset dataset(String name, List<Image> images, List<Integer> labels, int classes, int channels, int h, int w) {
        int m = channels * h * w;
        byte[] data = new byte[images.size() * m];
        for (int i = 0; i < images.size(); i++) {
            Image img = images.get(i);
            for (int c = 0; c < channels; c++) // a gray image in an RGB set is copied to each channel
                System.arraycopy(img.pixels(), img.gray() ? 0 : c * h * w, data, i * m + c * h * w, h * w);
        }
        return new Dataset(name, channels, h, w, classes, data, labels.stream().mapToInt(Integer::intValue).toArray());
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
    }
}
