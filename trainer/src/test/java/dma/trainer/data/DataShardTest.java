package dma.trainer.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataShardTest {
    @Test
    void aShardKeepsItsImagesAndTheWholeSetsStatistics(@TempDir Path dir) throws Exception {
        byte[] px = new byte[6 * 2 * 2 * 2];
        for (int i = 0; i < px.length; i++) px[i] = (byte) (i * 37);
        Dataset whole = new Dataset("t/train", 2, 2, 2, 300, px, new int[]{0, 1, 299, 3, 4, 5});
        Dataset part = whole.subset(new int[]{1, 2, 5});
        Path f = dir.resolve("data").resolve("distdata-1.shard");
        DataShard.of("distdata 1 of 2", part, whole).write(f);
        DataShard back = DataShard.read(f);
        assertEquals(part.toString(), back.data().toString());
        assertArrayEquals(part.images(), back.data().images());
        assertArrayEquals(part.labels(), back.data().labels()); // labels past 255 survive
        assertEquals(6, back.header().trainSize());
        assertArrayEquals(whole.mean(), back.header().mean());
        assertArrayEquals(whole.std(), back.header().std());
        assertEquals(1, Files.list(f.getParent()).count(), "no temporary file is left");

        Files.write(f, java.util.Arrays.copyOf(Files.readAllBytes(f), (int) Files.size(f) - 3));
        var e = assertThrows(IllegalArgumentException.class, () -> DataShard.read(f));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
}
