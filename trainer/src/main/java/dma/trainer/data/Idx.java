package dma.trainer.data;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST ({@code *-ubyte} or {@code *-ubyte.gz}): a magic number
 * (0x0000 · type 0x08 = unsigned byte · rank), the dimensions as big-endian ints, then the bytes.
 * A file that is not one is an IllegalArgumentException naming it; one that cannot be read, an UncheckedIOException.
 * The data is read as it arrives, never allocated from the header's claim, which a gzipped file cannot be checked
 * against before it is inflated.
 */
public final class Idx {
    private Idx() {}

    /** An unsigned-byte array with its dimensions. */
    public record Array(int[] dims, byte[] data) {
        public int count() { return dims[0]; }
        public int itemSize() { return data.length / Math.max(dims[0], 1); }
    }

    public static Array read(Path file) {
        try (InputStream raw = Files.newInputStream(file);
             DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(
                     file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw, 1 << 16))) {
            int magic = in.readInt();
            if ((magic >>> 16) != 0 || ((magic >>> 8) & 0xFF) != 0x08)
                throw new IllegalArgumentException(file + ": not an unsigned-byte IDX file (magic 0x" + Integer.toHexString(magic) + ", expected 0x0000080N)");
            int rank = magic & 0xFF;
            if (rank < 1 || rank > 4) throw new IllegalArgumentException(file + ": IDX rank " + rank + " is not supported");
            int[] dims = new int[rank];
            long size = 1;
            for (int i = 0; i < rank; i++) {
                dims[i] = in.readInt();
                if (dims[i] < 0) throw new IllegalArgumentException(file + ": negative dimension " + dims[i]);
                size *= dims[i]; // below 2^31 · 2^31: checked before the next product
                if (size > Integer.MAX_VALUE - 8)
                    throw new IllegalArgumentException(file + ": dimensions " + java.util.Arrays.toString(java.util.Arrays.copyOf(dims, i + 1))
                            + " make more data than an array holds");
            }
            byte[] data = in.readNBytes((int) size); // grows with what arrives, up to size
            if (data.length < size)
                throw new IllegalArgumentException(file + ": truncated: header promises " + size + " data bytes ("
                        + java.util.Arrays.toString(dims) + ") but the file holds " + data.length);
            return new Array(dims, data);
        } catch (EOFException e) {
            throw new IllegalArgumentException(file + ": truncated: the file ends inside its header", e);
        } catch (java.util.zip.ZipException e) {
            throw new IllegalArgumentException(file + ": not valid gzip data: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }
}
