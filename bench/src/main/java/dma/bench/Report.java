package dma.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Ours against the peer for one workload: one JSON object (--json) or a small table. Both sides carry
 * the per-repetition figures under the same key (higher is better) with their min, median and max.
 */
final class Report {
    static final ObjectMapper JSON = new ObjectMapper();

    private Report() {}

    /** The head of a report: what ran, where. */
    static ObjectNode start(String workload, BenchOptions o) {
        ObjectNode root = JSON.createObjectNode().put("workload", workload).put("threads", o.threads).put("reps", o.reps);
        root.putObject("machine").put("cpu", cpuModel()).put("cores", Runtime.getRuntime().availableProcessors())
                .put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        return root;
    }

    /** One side's figures under {@code key}, with min/median/max. */
    static ObjectNode side(String name, int inner, String key, double[] values) {
        ObjectNode s = JSON.createObjectNode().put("name", name).put("inner", inner);
        Arrays.stream(values).forEach(s.putArray(key)::add);
        return s.put("min", Arrays.stream(values).min().orElse(Double.NaN))
                .put("median", Timing.median(values))
                .put("max", Arrays.stream(values).max().orElse(Double.NaN));
    }

    /** A side that could not be measured here, and why (it is reported, with the peer's figures, instead of a number). */
    static ObjectNode unavailable(String name, String reason) {
        return JSON.createObjectNode().put("name", name).put("available", false).put("reason", reason);
    }

    static boolean measured(ObjectNode side) {
        return !side.has("available") || side.get("available").asBoolean();
    }

    /** Adds both sides and the ratio of medians (ours / peer) to {@code root}, then prints it; {@code peer} null: skipped. */
    static void finish(ObjectNode root, ObjectNode ours, Peer.Outcome peer,
                       String title, String unit, PrintWriter out, PrintWriter err, boolean json) {
        root.set("ours", ours);
        ObjectNode p = root.putObject("peer");
        if (peer == null) p.put("available", false).put("reason", "skipped (--no-peer)");
        else if (!peer.available()) p.put("available", false).put("reason", peer.unavailable());
        else p.put("available", true).setAll(peer.result());
        if (measured(ours) && peer != null && peer.available()) root.put("ratio", ours.get("median").asDouble() / p.get("median").asDouble());
        else root.putNull("ratio");

        if (json) {
            out.println(root);
            if (peer != null && !peer.available()) err.println("peer unavailable: " + peer.unavailable());
            out.flush();
            err.flush();
            return;
        }
        out.println(title);
        out.printf("%-22s %9s %9s %9s   (%s)%n", "", "min", "median", "max", unit);
        if (measured(ours)) row(out, ours.get("name").asText(), ours);
        else out.println(ours.get("name").asText() + " unavailable: " + ours.get("reason").asText());
        if (peer == null) out.println("peer skipped (--no-peer)");
        else if (!peer.available()) out.println("peer unavailable: " + peer.unavailable());
        else {
            String name = "torch " + p.path("version").asText();
            row(out, name, p);
            if (measured(ours)) out.printf("ratio of medians, ours / %s: %.3f%n", name, root.get("ratio").asDouble());
        }
        out.flush();
    }

    private static void row(PrintWriter out, String name, ObjectNode s) {
        out.printf("%-22s %9.2f %9.2f %9.2f%n", name, s.get("min").asDouble(), s.get("median").asDouble(), s.get("max").asDouble());
    }

    /** The 1, 5 and 15 minute load averages from /proc/loadavg ("1.62 1.27 1.79"), or "unknown". */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).strip().split("\\s+");
            return f.length >= 3 ? f[0] + " " + f[1] + " " + f[2] : "unknown";
        } catch (IOException | UncheckedIOException e) {
            return "unknown";
        }
    }

    /** "dma" and the arguments as a shell would take them back (quoted where they hold anything but plain characters). */
    static String commandLine(List<String> args) {
        StringBuilder sb = new StringBuilder("dma");
        for (String a : args)
            sb.append(' ').append(a.matches("[A-Za-z0-9_./=,:@%+-]+") ? a : "'" + a.replace("'", "'\\''") + "'");
        return sb.toString();
    }

    /** Three significant digits without exponents (small sizes give small numbers), whole numbers from 100 up. */
    static String num(double x) {
        if (x == 0 || !Double.isFinite(x)) return x == 0 ? "0" : String.valueOf(x);
        int decimals = Math.max(0, 2 - (int) Math.floor(Math.log10(Math.abs(x))));
        return String.format(java.util.Locale.ROOT, "%." + decimals + "f", x);
    }

    /** The machine in one line: CPU model, cores, Java. */
    static String machine() {
        return cpuModel() + ", " + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("java.vm.name") + " "
                + System.getProperty("java.version");
    }

    /** lscpu's "Model name", from /proc/cpuinfo. */
    static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).strip()).findFirst().orElse("unknown");
        } catch (IOException | UncheckedIOException e) {
            return "unknown";
        }
    }
}
