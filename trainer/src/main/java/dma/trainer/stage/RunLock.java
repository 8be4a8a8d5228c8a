package dma.trainer.stage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * One writer at a time: an exclusive lock on a file in the run directory, held while a pipeline runs ({@code .pipeline.lock})
 * or a stage trains ({@code <stage>/.lock}), so that a second {@code dma pipeline} on the same run directory, or a job
 * resubmitted while the first still runs, stops with a message naming the holder instead of writing the same files. The
 * operating system releases the lock when its process dies, however it dies; the file holds who took it, for the message.
 */
public final class RunLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock of a whole pipeline run. */
    public static RunLock pipeline(Path runDir) {
        return take(runDir.resolve(".pipeline.lock"), "the run " + runDir);
    }

    /** The lock of one stage. */
    public static RunLock stage(Path runDir, StageId id) {
        return take(id.dir(runDir).resolve(".lock"), "stage " + id + " of " + runDir);
    }

    private static RunLock take(Path file, String what) {
        try {
            Files.createDirectories(file.getParent());
            FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // this process holds it already (another thread)
            }
            if (lock == null) {
                String holder = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).strip();
                ch.close();
                throw new IllegalStateException(what + " is being written by another process (" + (holder.isEmpty() ? "unknown" : holder)
                        + "); wait for it to end, or stop it, then run this again");
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + " on " + Attempt.host() + " since " + Instant.now())
                    .getBytes(StandardCharsets.UTF_8)));
            ch.force(false);
            return new RunLock(ch, lock);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot take the lock: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the process's end releases it anyway
        }
    }
}
