package dma.trainer.report;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Training metrics as JSON lines in {@code <runDir>/metrics.jsonl}, one object per line. Each line goes to the OS in
 * one unbuffered write, so a killed run keeps everything it logged (a power loss may still lose the page cache).
 * Opening an existing file appends (a resumed run continues the same log). One writer per file: parallel processes
 * log into their own run directories.
 */
public final class MetricsLog implements AutoCloseable {
    public static final String FILE = "metrics.jsonl";

    /**
     * One logged point. Accuracies are fractions in [0, 1].
     *
     * @param evalAccuracy null when this step was not evaluated
     * @param wallSeconds  since the stage started, cumulative across resumes
     * @param flops        cumulative training FLOPs of the stage
     */
    public record Metric(String stage, long step, int epoch, double loss, double lr,
                         @JsonProperty("images_per_s") double imagesPerSecond,
                         @JsonProperty("eval_acc") Double evalAccuracy,
                         @JsonProperty("wall_s") double wallSeconds,
                         long flops) {}

    private final Path file;
    private final OutputStream out;

    public MetricsLog(Path runDir) throws IOException {
        Files.createDirectories(runDir);
        file = runDir.resolve(FILE);
        dropTruncatedTail(file);
        out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public Path file() {
        return file;
    }

    /** Appends one line; thread-safe, since evaluation may log from another thread than training. */
    public synchronized void log(Metric m) {
        try {
            out.write((Json.MAPPER.writeValueAsString(m) + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    /**
     * All metrics of a file in order. A last line without its newline is what a killed writer left half-written:
     * it is ignored. A malformed line anywhere else is a real corruption and throws.
     */
    public static List<Metric> read(Path file) throws IOException {
        // Lenient decoding: a cut can fall inside a multi-byte character.
        String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        String[] lines = text.split("\n", -1); // the last element is "" after a complete file, else the fragment
        List<Metric> metrics = new ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty()) continue;
            Metric m;
            try {
                m = Json.MAPPER.readValue(line, Metric.class);
            } catch (JsonProcessingException e) {
                if (i == lines.length - 1) break;
                throw new IOException(file + ":" + (i + 1) + ": malformed metrics line: " + JsonFile.describe(e), e);
            }
            if (m == null) { // the line "null"
                if (i == lines.length - 1) break;
                throw new IOException(file + ":" + (i + 1) + ": malformed metrics line: JSON null, not a metric");
            }
            metrics.add(m);
        }
        return metrics;
    }

    /** Cuts a half-written last line before appending, so a resumed run does not glue its first line onto it. */
    private static void dropTruncatedTail(Path file) throws IOException {
        if (!Files.exists(file)) return;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long end = ch.size();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (end > 0) {
                long start = Math.max(0, end - buf.capacity());
                buf.clear().limit((int) (end - start));
                while (buf.hasRemaining()) if (ch.read(buf, start + buf.position()) < 0) break;
                for (int i = buf.position() - 1; i >= 0; i--) {
                    if (buf.get(i) == '\n') {
                        ch.truncate(start + i + 1); // no-op when the file already ends with a newline
                        return;
                    }
                }
                end = start;
            }
            ch.truncate(0); // no newline at all: the only line was cut
        }
    }
}
