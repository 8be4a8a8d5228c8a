package dma.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dma.trainer.report.Plots;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dma bench side-by-side}: the three CPU targets of DESIGN §5 in one run (sgemm 1024³, the ViT step, the
 * CifarResNet-110 step), each through its own subcommand with the PyTorch peer, into one Markdown table with the
 * targets and a bar chart of the ratios. The JSON of every workload is kept beside them.
 */
@Command(name = "side-by-side", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs gemm, vit-step and resnet-step against PyTorch in one go and writes README.md (a table with the targets), "
                + "ratios.png and each workload's JSON into --out."})
final class SideBySideBench implements Callable<Integer> {
    /** A workload, its arguments and the ratio DESIGN §5 asks of it. */
    record Workload(String name, List<String> args, String unit, double target, String targetText) {}

    static final List<Workload> WORKLOADS = List.of(
            new Workload("gemm", List.of(), "GFLOP/s", 0.95, "≥ 0.95× (sgemm 1024³)"),
            new Workload("vit-step", List.of(), "images/s", 2.0, "≥ 2× (and peak RSS ≤ PyTorch's)"),
            new Workload("resnet-step", List.of(), "images/s", 1.0, "≥ 1× (CifarResNet-110, batch 128, SGD)"));

    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, description = "Folder for README.md, ratios.png and the workloads' JSON.")
    Path out;

    @Option(names = "--reps", description = "Timed repetitions per side, at least 5 (default: ${DEFAULT-VALUE}).")
    int reps = 5;

    @Option(names = "--rounds", description = "Rounds of ours then the peer per workload, pooled (default: ${DEFAULT-VALUE}).")
    int rounds = 3;

    @Option(names = "--only", split = ",", description = "A subset of: gemm, vit-step, resnet-step.")
    List<String> only;

    @Override
    public Integer call() throws IOException {
        if (reps < 5) throw new ParameterException(spec.commandLine(), "--reps must be at least 5, got " + reps);
        List<Workload> chosen = new ArrayList<>();
        for (Workload w : WORKLOADS) if (only == null || only.contains(w.name())) chosen.add(w);
        if (only != null)
            for (String o : only)
                if (WORKLOADS.stream().noneMatch(w -> w.name().equals(o)))
                    throw new ParameterException(spec.commandLine(), "--only: unknown workload '" + o + "'; choose from gemm, vit-step, resnet-step");
        Files.createDirectories(out);
        PrintWriter err = spec.commandLine().getErr();
        String loadBefore = Report.loadAverage();
        ZonedDateTime started = ZonedDateTime.now(ZoneOffset.UTC);
        Map<Workload, JsonNode> results = new LinkedHashMap<>();
        for (Workload w : chosen) {
            err.printf("side-by-side: %s ...%n", w.name());
            err.flush();
            List<String> args = new ArrayList<>(List.of(w.name(), "--json", "--reps", String.valueOf(reps)));
            args.addAll(w.args());
            args.addAll(List.of("--rounds", String.valueOf(rounds)));
            // each workload's peak RSS its own: the previous one's cached blocks and high-water mark are dropped first
            if (!ModelStepBench.resetPeakRss()) err.println("side-by-side: could not reset the peak RSS; later workloads' peaks include earlier ones");
            StringWriter json = new StringWriter();
            CommandLine cl = new CommandLine(new BenchCommand());
            cl.setOut(new PrintWriter(json, true));
            cl.setErr(err);
            int rc = cl.execute(args.toArray(String[]::new));
            if (rc != 0) throw new IllegalStateException("side-by-side: " + w.name() + " failed (exit " + rc + ")");
            Files.writeString(out.resolve(w.name() + ".json"), json.toString());
            results.put(w, Report.JSON.readTree(json.toString()));
        }
        String md = markdown(results, started, loadBefore, Report.loadAverage());
        Files.writeString(out.resolve("README.md"), md);
        Map<String, Map<String, Double>> bars = new LinkedHashMap<>();
        for (var e : results.entrySet()) {
            Map<String, Double> b = new LinkedHashMap<>();
            JsonNode ratio = e.getValue().get("ratio");
            b.put("ours / PyTorch (median)", ratio == null || ratio.isNull() ? 0 : ratio.asDouble());
            b.put("target", e.getKey().target());
            bars.put(e.getKey().name(), b);
        }
        Plots.bars("CPU side by side with PyTorch (2 threads)", "ratio of medians, ours / PyTorch", bars, out.resolve("ratios.png"));
        spec.commandLine().getOut().print(md);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private String markdown(Map<Workload, JsonNode> results, ZonedDateTime started, String loadBefore, String loadAfter) {
        StringBuilder md = new StringBuilder();
        md.append("# CPU side by side with PyTorch, ").append(started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm"))).append(" UTC\n\n");
        md.append("- **Command**: `").append(Report.commandLine(spec.commandLine().getParseResult().originalArgs())).append("`\n");
        md.append("- **Load average** (1, 5, 15 min): ").append(loadBefore).append(" before, ").append(loadAfter).append(" after\n");
        md.append("- **Machine**: ").append(Report.machine()).append("; both sides on 2 threads, the peer is Debian's python3-torch\n");
        md.append("- Each workload ran ").append(rounds).append(" rounds of ours then the peer's ")
                .append("(the machine's speed drifts by tens of percent within minutes; rounds put the drift on both sides), ")
                .append(reps).append(" timed repetitions per side and round after warm-up, pooled; ")
                .append("min / median / max per side, the ratio is of the medians.\n\n");
        md.append("| workload | unit | ours (min / median / max) | PyTorch (min / median / max) | ratio | target | met | peak RSS MB ours / PyTorch |\n");
        md.append("|---|---|---|---|---:|---|---|---|\n");
        for (var e : results.entrySet()) {
            Workload w = e.getKey();
            JsonNode j = e.getValue(), ours = j.get("ours"), peer = j.get("peer");
            boolean hasPeer = peer != null && peer.path("available").asBoolean(true) && peer.has("median");
            double ratio = j.path("ratio").asDouble(Double.NaN);
            String rss = ours.has("peak_rss_mb") ? Report.num(ours.get("peak_rss_mb").asDouble()) + " / "
                    + (hasPeer && peer.has("peak_rss_mb") ? Report.num(peer.get("peak_rss_mb").asDouble()) : "–") : "–";
            md.append(String.format("| %s | %s | %s | %s | **%.2f×** | %s | %s | %s |%n", w.name(), w.unit(), range(ours),
                    hasPeer ? range(peer) : "not run", ratio, w.targetText(), Double.isNaN(ratio) ? "–" : ratio >= w.target() ? "yes" : "**no**", rss));
        }
        md.append("\n![ratios](ratios.png)\n");
        return md.toString();
    }

    private static String range(JsonNode side) {
        return Report.num(side.get("min").asDouble()) + " / " + Report.num(side.get("median").asDouble()) + " / " + Report.num(side.get("max").asDouble());
    }
}
