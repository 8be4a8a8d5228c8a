package dma.trainer.data;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A part of a data set in one file, so that a job on another machine reads only what it trains on: a DistData
 * task its own 1/K share of the training set, plus the evaluation set. The header keeps what the task cannot
 * compute from its part alone: the size and per-channel mean/std of the whole training set, which set its step
 * count and normalization, so the task trains exactly as it would in the process that holds all the data.
 *
 * <p>Layout: the 8 bytes {@code DMASHRD1}, a big-endian int header length, the header as UTF-8 JSON, the images
 * (unsigned bytes, [n, c, h, w]), the labels (big-endian ints). Written to a temporary file and renamed, so a
 * reader sees a whole file or none.
 */
public record DataShard(Header header, Dataset data) {
    private static final byte[] MAGIC = "DMASHRD1".getBytes(StandardCharsets.US_ASCII);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param part       what this is, e.g. "distdata 1 of 4" or "test"
     * @param trainSize  images in the whole (train_fraction-reduced) training set
     * @param mean       per-channel mean of the whole training set
     * @param std        per-channel standard deviation of the whole training set
     */
    public record Header(@JsonProperty("part") String part, @JsonProperty("name") String name, @JsonProperty("channels") int channels,
                         @JsonProperty("height") int height, @JsonProperty("width") int width, @JsonProperty("classes") int classes,
                         @JsonProperty("size") int size, @JsonProperty("train_size") int trainSize,
                         @JsonProperty("mean") float[] mean, @JsonProperty("std") float[] std) {}

    /** The shard of {@code data} described by {@code part}, with the whole training set's statistics. */
    public static DataShard of(String part, Dataset data, Dataset wholeTrain) {
        return new DataShard(new Header(part, data.name(), data.channels(), data.height(), data.width(), data.classes(), data.size(),
                wholeTrain.size(), wholeTrain.mean(), wholeTrain.std()), data);
    }

    public void write(Path file) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            byte[] head = JSON.writeValueAsBytes(header);
            dma.engine.io.AtomicFile.write(file, ch -> {
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 16));
                out.write(MAGIC);
                out.writeInt(head.length);
                out.write(head);
                out.write(data.images());
                for (int label : data.labels()) out.writeInt(label);
                out.flush(); // not closed: the channel is the writer's, forced and closed after this
            });
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the data shard: " + e.getMessage(), e);
        }
    }

    /**
     * Reads a shard. A file that is not a whole shard is an IllegalArgumentException naming it: the header's sizes are
     * checked against the file's length before anything of their size is allocated. One that cannot be read is an
     * UncheckedIOException.
     */
    public static DataShard read(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            long length = Files.size(file);
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) throw new IllegalArgumentException(file + ": not a dma data shard (no DMASHRD1 header)");
            int headLength = in.readInt();
            long afterHead = length - MAGIC.length - 4L - headLength;
            if (headLength < 0 || afterHead < 0)
                throw new IllegalArgumentException(file + ": header length " + headLength + " does not fit the file's " + length + " bytes");
            byte[] head = new byte[headLength];
            in.readFully(head);
            Header h;
            try {
                h = JSON.readValue(head, Header.class);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalArgumentException(file + ": the shard's header is not valid: " + dma.trainer.report.JsonFile.describe(e), e);
            } catch (IOException e) { // a CharConversionException: not text in the encoding Jackson detected
                throw new IllegalArgumentException(file + ": the shard's header is not JSON text: " + dma.trainer.report.JsonFile.oneLine(String.valueOf(e.getMessage())), e);
            }
            if (h == null) throw new IllegalArgumentException(file + ": the shard's header is JSON null");
            long images = -1;
            if (h.size() >= 0 && h.channels() >= 1 && h.height() >= 1 && h.width() >= 1) {
                try {
                    images = Math.multiplyExact(Math.multiplyExact(Math.multiplyExact((long) h.size(), h.channels()), h.height()), h.width());
                } catch (ArithmeticException tooMany) {
                    images = Long.MAX_VALUE;
                }
            }
            String claim = h.size() + " images of " + h.channels() + "×" + h.height() + "×" + h.width();
            if (images < 0) throw new IllegalArgumentException(file + ": the header's " + claim + " is not a data set's shape");
            long needed = images == Long.MAX_VALUE ? Long.MAX_VALUE : images + 4L * h.size();
            if (needed > afterHead)
                throw new IllegalArgumentException(file + ": truncated data shard: the header's " + claim + " with their labels need "
                        + (needed == Long.MAX_VALUE ? "more than 2^63" : String.valueOf(needed)) + " bytes after it, the file has " + afterHead);
            if (needed < afterHead)
                throw new IllegalArgumentException(file + ": " + (afterHead - needed) + " bytes after the header's " + claim + " and their labels");
            if (images > Integer.MAX_VALUE - 8)
                throw new IllegalArgumentException(file + ": " + images + " bytes of images are more than an array holds");
            if (h.mean() == null || h.std() == null || h.mean().length != h.channels() || h.std().length != h.channels())
                throw new IllegalArgumentException(file + ": the header's mean and std must have one value per channel (" + h.channels() + ")");
            byte[] pixels = new byte[(int) images];
            in.readFully(pixels);
            int[] labels = new int[h.size()];
            for (int i = 0; i < labels.length; i++) labels[i] = in.readInt();
            Dataset data;
            try {
                data = new Dataset(h.name(), h.channels(), h.height(), h.width(), h.classes(), pixels, labels);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
            }
            return new DataShard(h, data);
        } catch (java.io.EOFException e) {
            throw new IllegalArgumentException(file + ": truncated data shard", e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }
}
