package dma.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.Tensor;
import dma.models.Architecture;
import dma.models.ImageClassifier;
import dma.models.resnet.ResNetConfig;
import dma.trainer.optim.Optimizer;
import dma.trainer.report.Plots;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Memory under a long run: many training steps of a small ViT and a small ResNet, recording after every step the bytes
 * held by live tensors (which must return to their value after the first step: each step's temporaries are freed when
 * it ends, not by the garbage collector) and the process's resident set, which must stop growing after warm-up.
 */
@Command(name = "memory", mixinStandardHelpOptions = true,
        description = "Live tensor bytes and resident memory (RSS) after every one of many training steps of a small ViT and a small ResNet; "
                + "checks that live bytes return to their baseline after every step and that RSS stops growing after warm-up.")
final class MemoryBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--steps", description = "Training steps of each model (default: ${DEFAULT-VALUE}).")
    int steps = 1000;

    @Option(names = "--warmup", description = "Steps after which RSS must stop growing (default: ${DEFAULT-VALUE}).")
    int warmup = 400;

    @Option(names = "--max-growth-mb", description = "Growth allowed of RSS's floor (its least value) from the quarter of the steps after warm-up to the last quarter, in MB (default: ${DEFAULT-VALUE}).")
    double maxGrowthMb = 16;

    @Option(names = "--backend", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    @Option(names = "--threads", description = "CPU threads (default: ${DEFAULT-VALUE}).")
    int threads = 2;

    @Option(names = "--out", description = "Folder for memory.csv, memory.json and memory.png (the curves); default: print the verdict only.")
    Path out;

    /** A model the run trains: its architecture, optimizer and batch. */
    record Workload(String name, Architecture arch, String optimizer, int batch) {}

    static List<Workload> workloads() {
        return List.of(new Workload("vit", ModelStepBench.Vit.config(64, 4, 4, 7), "adamw", 32),
                new Workload("resnet", ResNetConfig.cifar(20, 3, 10), "sgd", 16));
    }

    /** One workload's curve and verdict. */
    record Curve(Workload workload, long baselineBytes, long[] liveBytes, double[] rssMb, int stepsOffBaseline, double growthMb) {}

    @Override
    public Integer call() throws IOException {
        if (warmup < 1 || steps < warmup + 8) throw new IllegalArgumentException("--steps must exceed --warmup (≥ 1) by at least 8, got " + steps + " and " + warmup);
        Backend be = Backends.get(backend, threads);
        PrintWriter w = spec.commandLine().getOut();
        List<Curve> curves = new ArrayList<>();
        for (Workload wl : workloads()) curves.add(run(be, wl));
        boolean ok = true;
        for (Curve c : curves) {
            boolean good = c.stepsOffBaseline == 0 && c.growthMb <= maxGrowthMb;
            ok &= good;
            w.printf(Locale.ROOT, "%-6s %s: %d steps; live bytes %,d after the first step, %s; RSS %.0f MB after step %d, %.0f MB after step %d, its floor %+.1f MB from the quarter after warm-up to the last (allowed %.0f): %s%n",
                    c.workload.name, backend, steps, c.baselineBytes,
                    c.stepsOffBaseline == 0 ? "the same after every step" : "different after " + c.stepsOffBaseline + " steps",
                    c.rssMb[warmup - 1], warmup, c.rssMb[steps - 1], steps, c.growthMb, maxGrowthMb, good ? "ok" : "FAILED");
        }
        w.flush();
        if (out != null) write(curves);
        return ok ? 0 : 1;
    }

    private Curve run(Backend be, Workload wl) {
        long[] live = new long[steps];
        double[] rss = new double[steps];
        try (ImageClassifier model = wl.arch.build(be, 0);
             Optimizer opt = Optimizer.create(wl.optimizer, model.parameters(), 0.05, 0.9);
             Tensor x = ModelStepBench.images(be, wl.arch, wl.batch)) {
            model.train(true);
            Runnable step = ModelStepBench.trainingStep(model, opt, model.parameters().values(), x, ModelStepBench.labels(wl.arch, wl.batch));
            for (int i = 0; i < steps; i++) {
                step.run();
                be.synchronize();
                live[i] = be.memory().liveBytes();
                rss[i] = ModelStepBench.procStatusMb("VmRSS");
            }
        }
        // the first step creates the gradients and the optimizer's moments, which live on with the parameters
        int off = 0;
        for (int i = 1; i < steps; i++) if (live[i] != live[0]) off++;
        // growth after warm-up: the floor (least RSS) of the last quarter of the steps against that of the quarter after
        // warm-up; a leak raises the floor step after step, while a passing peak (a compilation, a collection) does not
        int window = Math.max(1, (steps - warmup) / 4);
        double growth = min(rss, steps - window, steps) - min(rss, warmup, warmup + window);
        return new Curve(wl, live[0], live, rss, off, growth);
    }

    private static double min(double[] a, int from, int to) {
        double m = Double.POSITIVE_INFINITY;
        for (int i = from; i < to; i++) m = Math.min(m, a[i]);
        return m;
    }

    private void write(List<Curve> curves) throws IOException {
        Files.createDirectories(out);
        StringBuilder csv = new StringBuilder("workload,step,live_bytes,rss_mb\n");
        ObjectNode root = Report.JSON.createObjectNode().put("backend", backend).put("threads", threads).put("steps", steps).put("warmup", warmup)
                .put("max_growth_mb", maxGrowthMb);
        ArrayNode list = root.putArray("workloads");
        Map<String, List<double[]>> rssSeries = new LinkedHashMap<>(), liveSeries = new LinkedHashMap<>();
        for (Curve c : curves) {
            Workload wl = c.workload;
            List<double[]> r = new ArrayList<>(), l = new ArrayList<>();
            for (int i = 0; i < steps; i++) {
                csv.append(String.format(Locale.ROOT, "%s,%d,%d,%.1f%n", wl.name, i + 1, c.liveBytes[i], c.rssMb[i]));
                if ((i + 1) % 10 == 0 || i == 0) {
                    r.add(new double[]{i + 1, c.rssMb[i]});
                    l.add(new double[]{i + 1, c.liveBytes[i] / 1048576.0});
                }
            }
            rssSeries.put(wl.name + " RSS", r);
            liveSeries.put(wl.name + " live tensors", l);
            list.addObject().put("workload", wl.name).put("model", wl.arch.toMap().toString()).put("optimizer", wl.optimizer).put("batch", wl.batch)
                    .put("baseline_live_bytes", c.baselineBytes).put("steps_off_baseline", c.stepsOffBaseline)
                    .put("rss_mb_after_warmup", c.rssMb[warmup - 1]).put("rss_mb_last", c.rssMb[steps - 1]).put("rss_growth_mb", c.growthMb);
        }
        Files.writeString(out.resolve("memory.csv"), csv);
        Files.writeString(out.resolve("memory.json"), Report.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
        Map<String, List<double[]>> all = new LinkedHashMap<>(rssSeries);
        all.putAll(liveSeries);
        Plots.lines("Memory over " + steps + " training steps (" + backend + ")", "step", "MB", all, out.resolve("memory.png"));
    }
}
