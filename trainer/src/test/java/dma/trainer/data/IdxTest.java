package dma.trainer.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxTest {
    private static byte[] idx(int[] dims, byte[] data, int dropBytes) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x0800 | dims.length);
        for (int d : dims) out.writeInt(d);
        out.write(data, 0, data.length - dropBytes);
        return bytes.toByteArray();
    }

    @Test
    void readsGzippedAndRawFiles(@TempDir Path dir) throws IOException {
        byte[] data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        Files.write(dir.resolve("a-ubyte"), idx(new int[]{3, 2, 2}, data, 0));
        try (OutputStream gz = new GZIPOutputStream(Files.newOutputStream(dir.resolve("b-ubyte.gz")))) {
            gz.write(idx(new int[]{3, 2, 2}, data, 0));
        }
        for (String name : new String[]{"a-ubyte", "b-ubyte.gz"}) {
            Idx.Array a = Idx.read(dir.resolve(name));
            assertArrayEquals(new int[]{3, 2, 2}, a.dims());
            assertArrayEquals(data, a.data());
        }
    }

    @Test
    void truncatedFileNamesTheFileAndTheExpectedSize(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("train-images-idx3-ubyte");
        Files.write(f, idx(new int[]{3, 2, 2}, new byte[12], 5));
        var e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("12 data bytes"), e.getMessage());
    }

    @Test
    void missingDatasetDirectoryGivesTheInstallHint() {
        var e = assertThrows(IllegalArgumentException.class, () -> FashionMnist.load(Path.of("/nonexistent/fmnist")));
        assertTrue(e.getMessage().contains("/nonexistent/fmnist") && e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());
    }
}
