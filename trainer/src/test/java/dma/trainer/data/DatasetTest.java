package dma.trainer.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DatasetTest {
    /** A set whose image i holds the byte (i + p) at pixel p; labels are given. */
    static Dataset pattern(int channels, int h, int w, int classes, int... labels) {
        int m = channels * h * w;
        byte[] images = new byte[labels.length * m];
        for (int i = 0; i < labels.length; i++)
            for (int p = 0; p < m; p++) images[i * m + p] = (byte) (i + p);
        return new Dataset("pattern", channels, h, w, classes, images, labels);
    }

    /** n images with the class counts given, labels in class order interleaved by a stride. */
    static Dataset withCounts(int... counts) {
        int n = Arrays.stream(counts).sum();
        int[] labels = new int[n];
        int[] left = counts.clone();
        for (int i = 0, c = 0; i < n; c = (c + 1) % counts.length)
            if (left[c] > 0) {
                left[c]--;
                labels[i++] = c;
            }
        return pattern(1, 2, 2, counts.length, labels);
    }

    @Test
    void padToCentresEachImageOnABlackBorder() {
        Dataset d = pattern(2, 2, 3, 4, 1, 3);
        Dataset p = d.padTo(5); // margins: 1 above and 2 below, 1 left and 1 right
        assertEquals(5, p.height());
        assertEquals(5, p.width());
        assertArrayEquals(d.labels(), p.labels());
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < 2; c++)
                for (int y = 0; y < 5; y++)
                    for (int x = 0; x < 5; x++) {
                        boolean inside = y >= 1 && y < 3 && x >= 1 && x < 4;
                        int want = inside ? d.images()[((i * 2 + c) * 2 + y - 1) * 3 + x - 1] : 0;
                        assertEquals(want, p.images()[((i * 2 + c) * 5 + y) * 5 + x], "image " + i + " channel " + c + " at " + y + "," + x);
                    }
        assertTrue(d.padTo(3) != d && d.padTo(3).height() == 3, "pads the height alone when the width already fits");
        var e = assertThrows(IllegalArgumentException.class, () -> d.padTo(2));
        assertTrue(e.getMessage().contains("cannot pad 2×3 images to 2×2"), e.getMessage());
    }

    @Test
    void subsetCopiesImagesAndLabelsInTheGivenOrder() {
        Dataset d = pattern(2, 2, 3, 4, 0, 1, 2, 3, 1);
        Dataset s = d.subset(new int[]{4, 0, 4});
        assertEquals(3, s.size());
        assertArrayEquals(new int[]{1, 0, 1}, s.labels());
        assertArrayEquals(Arrays.copyOfRange(d.images(), 4 * 12, 5 * 12), Arrays.copyOfRange(s.images(), 0, 12));
        assertArrayEquals(Arrays.copyOfRange(d.images(), 0, 12), Arrays.copyOfRange(s.images(), 12, 24));
        assertEquals(12, s.imageSize());
    }

    @Test
    void meanAndStdArePerChannelOverPixelsScaledToOne() {
        // two 2-channel 1×2 images: channel 0 holds 0, 255, 255, 255; channel 1 holds 51 everywhere
        byte[] px = {0, (byte) 255, 51, 51, (byte) 255, (byte) 255, 51, 51};
        Dataset d = new Dataset("t", 2, 1, 2, 1, px, new int[]{0, 0});
        assertArrayEquals(new float[]{0.75f, 0.2f}, d.mean(), 1e-6f);
        assertArrayEquals(new float[]{(float) Math.sqrt(0.1875), 0f}, d.std(), 1e-6f);
    }

    @Test
    void rejectsInconsistentShapesAndLabels() {
        var e = assertThrows(IllegalArgumentException.class, () -> new Dataset("t", 1, 2, 2, 3, new byte[7], new int[]{0, 1}));
        assertTrue(e.getMessage().contains("7 pixel bytes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Dataset("t", 1, 1, 1, 3, new byte[2], new int[]{0, 3}));
        assertTrue(e.getMessage().contains("image 1 has label 3"), e.getMessage());
    }

    @Test
    void classBalancedTakesRoundedFractionPerClassDeterministically() {
        Dataset d = withCounts(40, 10, 7, 3, 1);
        int[] a = Subsets.classBalanced(d, 0.25, 7);
        assertArrayEquals(a, Subsets.classBalanced(d, 0.25, 7));
        assertFalse(Arrays.equals(a, Subsets.classBalanced(d, 0.25, 8)));
        int[] per = new int[5];
        for (int i = 0; i < a.length; i++) {
            if (i > 0) assertTrue(a[i] > a[i - 1], "sorted and distinct");
            per[d.label(a[i])]++;
        }
        assertArrayEquals(new int[]{10, 3, 2, 1, 0}, per); // round(10), round(2.5), round(1.75), round(0.75), round(0.25)
        assertEquals(d.size(), Subsets.classBalanced(d, 1, 1).length);
        assertEquals(0, Subsets.classBalanced(d, 0, 1).length);
        assertThrows(IllegalArgumentException.class, () -> Subsets.classBalanced(d, 1.5, 1));
    }

    @Test
    void distDataShardsAreDisjointCoveringAndClassBalanced() {
        Dataset d = withCounts(13, 8, 6, 3);
        int k = 4;
        int[][] shards = Subsets.distData(d, k, 3);
        assertArrayEquals(shards, Subsets.distData(d, k, 3));
        assertFalse(Arrays.deepEquals(shards, Subsets.distData(d, k, 4)));
        Set<Integer> seen = new HashSet<>();
        int min = Integer.MAX_VALUE, max = 0;
        for (int[] s : shards) {
            int[] per = new int[4];
            for (int i = 0; i < s.length; i++) {
                assertTrue(seen.add(s[i]), "index " + s[i] + " in two shards");
                if (i > 0) assertTrue(s[i] > s[i - 1], "sorted");
                per[d.label(s[i])]++;
            }
            int[] counts = {13, 8, 6, 3};
            for (int c = 0; c < 4; c++)
                assertTrue(per[c] == counts[c] / k || per[c] == (counts[c] + k - 1) / k, "class " + c + ": " + per[c]);
            min = Math.min(min, s.length);
            max = Math.max(max, s.length);
        }
        assertEquals(d.size(), seen.size());
        assertTrue(max - min <= 1, "shard sizes " + min + ".." + max);
    }
}
