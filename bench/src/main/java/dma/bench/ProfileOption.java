package dma.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.OpProfile;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * {@code --profile STEPS} of the training-step benchmarks: where a step's time goes, op by op ({@link OpProfile});
 * with {@code --trace FILE}, the profiled steps as a timeline too ({@link dma.engine.Trace}).
 */
final class ProfileOption {
    /** Rows printed; the rest are summed in one line. */
    private static final int ROWS = 40;

    /** Steps profiled for --trace without --profile. */
    static final int TRACE_STEPS = 3;

    @Option(names = "--profile", paramLabel = "STEPS", description = {
            "After the timed steps, run STEPS more with every op timed and print where the time went: ms per step, share",
            "and calls per op and output shape, forward and backward (the device is synchronized at each op, so a",
            "profiled step is slower than a timed one; the shares are what it is for). With --json, as \"profile\"."})
    int steps;

    @Option(names = "--trace", paramLabel = "FILE.json", description = "Write the profiled steps as a timeline in the Chrome"
            + " Trace Event format (open it in ui.perfetto.dev or chrome://tracing): one event per op, forward and backward, with"
            + " its output shape, one per step, and on the CPU backend one track per thread with each parallel chunk, named after"
            + " its op. Without --profile, profiles " + TRACE_STEPS + " steps.")
    Path trace;

    /** The steps profiled by {@link #run}. */
    private int ran;

    /** The profiled steps, or null when not asked for; with --trace, written there as {@code process}'s timeline. */
    OpProfile run(Runnable step, Backend be, String process, PrintWriter err) {
        int n = steps > 0 ? steps : trace != null ? TRACE_STEPS : 0;
        if (n <= 0) return null;
        ran = n;
        try (OpProfile p = OpProfile.open(be, trace != null)) {
            for (int i = 0; i < n; i++) {
                p.stepStarts("step " + (i + 1));
                step.run();
                p.stepEnded();
            }
            if (trace != null) {
                try {
                    p.trace().write(trace, process);
                } catch (IOException e) {
                    throw new UncheckedIOException("--trace " + trace + ": " + e.getMessage(), e);
                }
                err.printf("trace: %d events of %d profiled step%s in %s (open it in ui.perfetto.dev or chrome://tracing)%n",
                        p.trace().size(), n, n == 1 ? "" : "s", trace);
                err.flush();
            }
            return p;
        }
    }

    /** The profile into the JSON report, as "profile" (before the report is printed). */
    void addTo(OpProfile p, ObjectNode root) {
        if (p == null) return;
        ArrayNode rows = root.putArray("profile");
        for (OpProfile.Row r : p.rows())
            rows.addObject().put("phase", r.phase()).put("op", r.op()).put("shape", r.shape())
                    .put("ms_per_step", r.nanos() / 1e6 / ran).put("calls_per_step", (double) r.calls() / ran);
    }

    /** The profile as a table. */
    void print(OpProfile p, PrintWriter out) {
        if (p == null) return;
        out.printf("%nwhere %d profiled step%s went (the device synchronized at every op):%n%s", ran, ran == 1 ? "" : "s",
                p.table(ran, ROWS));
        out.flush();
    }
}
