package dma.trainer.ui;

import java.io.PrintStream;

/**
 * A progress bar with rate and ETA on a terminal; on anything else (CI logs, pipes) a plain line
 * every tenth of the way, so logs stay readable.
 */
public final class Progress {
    private final String label;
    private final long total;
    private final String unit;
    private final PrintStream out;
    private final boolean terminal;
    private final long start = System.nanoTime();
    /** Units done before this process started (a resumed stage): the rate counts only this process's. */
    private long from;
    private long lastDraw;
    private int lastTenth = -1;

    public Progress(String label, long total, String unit) {
        this(label, total, unit, System.err, System.console() != null);
    }

    public Progress(String label, long total, String unit, PrintStream out, boolean terminal) {
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.out = out;
        this.terminal = terminal;
    }

    /** Starts the count at {@code done} units (a resumed stage), so that the rate and ETA are this process's. */
    public Progress from(long done) {
        from = done;
        return this;
    }

    /** Reports {@code done} of total units, with a short status such as the loss. */
    public void update(long done, String status) {
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = (done - from) / Math.max(secs, 1e-9);
        double eta = rate > 0 ? (total - done) / rate : 0;
        if (terminal) {
            long now = System.nanoTime();
            if (done < total && now - lastDraw < 100_000_000L) return;
            lastDraw = now;
            int width = 30, filled = (int) (width * done / Math.max(total, 1));
            out.printf("\r%s [%s%s] %d/%d %.1f %s/s ETA %s %s\u001b[K", label, "=".repeat(filled), " ".repeat(width - filled),
                    done, total, rate, unit, clock(eta), status);
            if (done >= total) out.println();
        } else {
            int tenth = (int) (10 * done / Math.max(total, 1));
            if (tenth == lastTenth && done < total) return;
            lastTenth = tenth;
            out.printf("%s %3d%% %d/%d %.1f %s/s ETA %s %s%n", label, 100 * done / Math.max(total, 1), done, total, rate, unit, clock(eta), status);
        }
        out.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
    }
}
