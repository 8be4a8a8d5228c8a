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

    public static DataShard read(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) throw new IllegalArgumentException(file + ": not a dma data shard (no DMASHRD1 header)");
            byte[] head = new byte[in.readInt()];
            in.readFully(head);
            Header h = JSON.readValue(head, Header.class);
            byte[] images = new byte[Math.multiplyExact(h.size(), h.channels() * h.height() * h.width())];
            in.readFully(images);
            int[] labels = new int[h.size()];
            for (int i = 0; i < labels.length; i++) labels[i] = in.readInt();
            return new DataShard(h, new Dataset(h.name(), h.channels(), h.height(), h.width(), h.classes(), images, labels));
        } catch (java.io.EOFException e) {
            throw new IllegalArgumentException(file + ": truncated data shard", e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }
}
