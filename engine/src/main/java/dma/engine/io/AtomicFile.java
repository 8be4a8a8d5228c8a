package dma.engine.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The one way the project writes a file that must never be seen half written (checkpoints, results, summaries, run
 * records): a temp file beside the target is written, forced to disk and renamed over it, then the directory is
 * forced, so that a reader, or a run resumed after a kill or a power cut, finds the old file or the new one.
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** Writes a file's bytes into the channel of its temp file. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel out) throws IOException;
    }

    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Writes {@code target} atomically. Temp files of the same target left by a writer that died (a killed run) are
     * deleted first: the project writes each file from one process (one writer per run directory). On failure (a full
     * disk) the temp file is removed and the old {@code target}, if any, is left as it was.
     */
    public static void write(Path target, Body body) throws IOException {
        Path file = target.toAbsolutePath();
        Path dir = file.getParent();
        String name = file.getFileName().toString();
        String point = (dir.getFileName() != null ? dir.getFileName() + "/" : "") + name;
        deleteStaleTemps(dir, name);
        Path tmp = dir.resolve(tempPrefix(name) + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1));
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                body.write(ch);
                Faults.reach("write/" + point, file);
                ch.force(true);
            }
            Faults.reach("rename/" + point, file);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            moved = true;
            syncDirectory(dir);
        } finally {
            if (!moved) Files.deleteIfExists(tmp);
        }
    }

    public static void writeFully(FileChannel ch, ByteBuffer bb) throws IOException {
        while (bb.hasRemaining()) ch.write(bb);
    }

    private static String tempPrefix(String name) {
        return "." + name + ".tmp-";
    }

    private static void deleteStaleTemps(Path dir, String name) throws IOException {
        try (DirectoryStream<Path> stale = Files.newDirectoryStream(dir, tempPrefix(name) + "*")) {
            for (Path p : stale) Files.deleteIfExists(p);
        }
    }

    /** Makes the rename durable where the platform allows opening a directory; best effort elsewhere. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // the data is safe in the file; only the rename might be lost on a power cut
        }
    }
}
