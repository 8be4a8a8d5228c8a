package dma.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.OpProfile;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/** {@code --profile STEPS} of the training-step benchmarks: where a step's time goes, op by op ({@link OpProfile}). */
final class ProfileOption {
    /** Rows printed; the rest are summed in one line. */
    private static final int ROWS = 40;

    @Option(names = "--profile", paramLabel = "STEPS", description = {
            "After the timed steps, run STEPS more with every op timed and print where the time went: ms per step, share",
            "and calls per op and output shape, forward and backward (the device is synchronized at each op, so a",
            "profiled step is slower than a timed one; the shares are what it is for). With --json, as \"profile\"."})
    int steps;

    /** The profiled steps, or null when not asked for. */
    OpProfile run(Runnable step, Backend be) {
        if (steps <= 0) return null;
        try (OpProfile p = OpProfile.open(be)) {
            for (int i = 0; i < steps; i++) step.run();
            return p;
        }
    }

    /** The profile into the JSON report, as "profile" (before the report is printed). */
    void addTo(OpProfile p, ObjectNode root) {
        if (p == null) return;
        ArrayNode rows = root.putArray("profile");
        for (OpProfile.Row r : p.rows())
            rows.addObject().put("phase", r.phase()).put("op", r.op()).put("shape", r.shape())
                    .put("ms_per_step", r.nanos() / 1e6 / steps).put("calls_per_step", (double) r.calls() / steps);
    }

    /** The profile as a table. */
    void print(OpProfile p, PrintWriter out) {
        if (p == null) return;
        out.printf("%nwhere %d profiled step%s went (the device synchronized at every op):%n%s", steps, steps == 1 ? "" : "s",
                p.table(steps, ROWS));
        out.flush();
    }
}
