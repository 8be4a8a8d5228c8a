package dma.trainer.data;

/**
 * An in-memory image classification set: images as unsigned bytes laid out [n, channels, height, width]
 * and one label in [0, classes) per image. The arrays are shared, not copied: treat them as read-only.
 */
public record Dataset(String name, int channels, int height, int width, int classes, byte[] images, int[] labels) {
    public Dataset {
        if (channels < 1 || height < 1 || width < 1 || classes < 1)
            throw new IllegalArgumentException(name + ": bad shape " + channels + "×" + height + "×" + width + " with " + classes + " classes");
        if ((long) labels.length * channels * height * width != images.length)
            throw new IllegalArgumentException(name + ": " + images.length + " pixel bytes for " + labels.length + " images of "
                    + channels + "×" + height + "×" + width);
        for (int i = 0; i < labels.length; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                throw new IllegalArgumentException(name + ": image " + i + " has label " + labels[i] + ", outside [0, " + classes + ")");
    }

    public int size() { return labels.length; }

    public int label(int i) { return labels[i]; }

    /** Bytes per image: channels · height · width. */
    public int imageSize() { return channels * height * width; }

    /** A new set holding the images at {@code indices}, in that order (repeats allowed). */
    public Dataset subset(int[] indices) {
        int m = imageSize();
        byte[] img = new byte[indices.length * m];
        int[] lab = new int[indices.length];
        for (int r = 0; r < indices.length; r++) {
            System.arraycopy(images, indices[r] * m, img, r * m, m);
            lab[r] = labels[indices[r]];
        }
        return new Dataset(name, channels, height, width, classes, img, lab);
    }

    /**
     * The same images zero-padded, centred, to {@code size}×{@code size} (torchvision's Pad before ToTensor: the border
     * is black, pixel 0). The extra row or column of an odd margin goes below and right.
     */
    public Dataset padTo(int size) {
        if (size < height || size < width)
            throw new IllegalArgumentException(name + ": cannot pad " + height + "×" + width + " images to " + size + "×" + size);
        if (size == height && size == width) return this;
        int top = (size - height) / 2, left = (size - width) / 2, plane = size * size;
        byte[] out = new byte[size() * channels * plane];
        for (int i = 0, src = 0; i < size(); i++)
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < height; y++, src += width)
                    System.arraycopy(images, src, out, (i * channels + c) * plane + (top + y) * size + left, width);
        return new Dataset(name, channels, size, size, classes, out, labels);
    }

    /** Per-channel mean of the pixels scaled to [0, 1]. */
    public float[] mean() {
        double[][] s = moments();
        float[] out = new float[channels];
        for (int c = 0; c < channels; c++) out[c] = (float) s[0][c];
        return out;
    }

    /** Per-channel standard deviation (population) of the pixels scaled to [0, 1]. */
    public float[] std() {
        double[][] s = moments();
        float[] out = new float[channels];
        for (int c = 0; c < channels; c++) out[c] = (float) Math.sqrt(Math.max(0, s[1][c] - s[0][c] * s[0][c]));
        return out;
    }

    /** {mean, mean of squares} per channel, from exact integer sums. */
    private double[][] moments() {
        int plane = height * width;
        long[] sum = new long[channels], sq = new long[channels];
        for (int i = 0, p = 0; i < size(); i++)
            for (int c = 0; c < channels; c++) {
                long s = 0, q = 0;
                for (int j = 0; j < plane; j++, p++) {
                    int v = images[p] & 0xFF;
                    s += v;
                    q += v * v;
                }
                sum[c] += s;
                sq[c] += q;
            }
        double count = (double) size() * plane;
        double[][] m = new double[2][channels];
        for (int c = 0; c < channels; c++) {
            m[0][c] = sum[c] / count / 255;
            m[1][c] = sq[c] / count / (255.0 * 255.0);
        }
        return m;
    }

    @Override
    public String toString() {
        return name + " (" + size() + " images, " + channels + "×" + height + "×" + width + ", " + classes + " classes)";
    }
}
