package dma.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.Flops;
import dma.engine.GradMode;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import dma.models.vit.ViTConfig;
import dma.trainer.optim.Optimizer;
import dma.trainer.report.Plots;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;

/**
 * {@code dma bench cost-growth}: how the ViT training step's time grows with depth and width, and what one
 * incubation step costs against a naive full backward of the same hybrid (DESIGN §5, last point).
 *
 * <p>The incubation step is the trainer's: {@link Assembly#hybrid} freezes every tensor outside module i, and the
 * task loss runs {@link ImageClassifier#forwardFrozenPrefix}: the frozen prefix without the tape in a scope of its own
 * (freed before module i runs), the frozen suffix recorded because its input is, its backward computing input gradients
 * only. The naive step trains the same hybrid with every tensor on the tape and every weight gradient computed, then
 * discards those outside module i (zeroed each step); both update module i alone with AdamW. A third step keeps the
 * prefix on the step's scope (plain {@code forward}: no tape either, as nothing in it needs a gradient, but its
 * activations live until the step ends) and shows what freeing them early saves. The three steps' repetitions
 * alternate, so the machine's load changes hit all alike.
 */
@Command(name = "cost-growth", mixinStandardHelpOptions = true, sortOptions = false,
        description = "ViT training step time (ms/step, images/s) against depth and width, and the incubation step (frozen prefix "
                + "without tape, frozen suffix with input gradients only) against a naive full backward of the same hybrid. Writes "
                + "README.md (tables), cost-growth.json and PNG plots into --out. The defaults keep it to a few minutes on 2 cores; "
                + "DESIGN §5's step is --batch 64.")
public final class CostGrowthBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR", description = "Where the tables, JSON and plots go (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("cost-growth");
    @Option(names = "--batch", description = "Images per step (default: ${DEFAULT-VALUE}; DESIGN §5's step: 64).")
    int batch = 16;
    @Option(names = "--depths", split = ",", defaultValue = "12,24,48", description = "Depths of the depth sweep (default: ${DEFAULT-VALUE}).")
    List<Integer> depths;
    @Option(names = "--widths", split = ",", defaultValue = "64,192,384", description = "Widths of the width sweep (default: ${DEFAULT-VALUE}).")
    List<Integer> widths;
    @Option(names = "--base-depth", description = "Depth of the width sweep and of the incubation target (default: ${DEFAULT-VALUE}).")
    int baseDepth = 12;
    @Option(names = "--base-width", description = "Width of the depth sweep and of the incubation target (default: ${DEFAULT-VALUE}).")
    int baseWidth = 192;
    @Option(names = "--head-width", description = "Heads = width / head width, DeiT's rule: 64 → 1, 192 → 3, 384 → 6 (default: ${DEFAULT-VALUE}).")
    int headWidth = 64;
    @Option(names = "--modules", description = "K: the incubation target is cut into K modules of equal depth (default: ${DEFAULT-VALUE}).")
    int modules = 4;
    @Option(names = "--module", split = ",", paramLabel = "I", description = "The modules whose incubation step is timed (default: all K).")
    List<Integer> moduleList;
    @Option(names = "--no-incubation", description = "Skip the incubation step.")
    boolean noIncubation;
    @Option(names = "--reps", description = "Timed repetitions, at least " + BenchOptions.MIN_REPS + " (default: ${DEFAULT-VALUE}).")
    int reps = BenchOptions.MIN_REPS;
    @Option(names = "--threads", description = "Threads for ours and the peer (default: the machine's cores, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();
    @Option(names = "--peer", description = "Also time the PyTorch peer's ViT step at every size (off by default).")
    boolean peer;

    /** One timed ViT size. */
    record Size(int depth, int width, int heads, long params, Flops.Count flopsPerStep, double[] seconds, Peer.Outcome peer) {
        double medianMs() {
            return 1e3 * Timing.median(seconds);
        }

        double imagesPerSecond(int batch) {
            return batch / Timing.median(seconds);
        }

        Double peerImagesPerSecond() {
            return peer != null && peer.available() ? peer.result().path("median").asDouble() : null;
        }
    }

    /** One step's FLOPs by kind and the engine's working memory above what it held before the step. */
    record Cost(Flops.Count flops, long peakBytes) {}

    /** A step's time per repetition and its cost. */
    record Step(double[] seconds, Cost cost) {}

    /** The incubation step of module i (as the trainer runs it, and with the prefix kept on the step's scope) and the naive step of the same hybrid. */
    record Incubation(int module, int prefixBlocks, int moduleBlocks, int suffixBlocks, long trainable, long frozen,
                      Step incubation, Step prefixKept, Step naive) {
        double ratio() {
            return Timing.median(naive.seconds) / Timing.median(incubation.seconds);
        }
    }

    @Override
    public Integer call() throws IOException {
        validate();
        String loadBefore = Report.loadAverage();
        ZonedDateTime started = ZonedDateTime.now(ZoneOffset.UTC);
        PrintWriter err = spec.commandLine().getErr();

        // every (depth, width) once: the two sweeps share their base point
        Map<List<Integer>, Size> sizes = new LinkedHashMap<>();
        for (int d : depths) sizes.put(List.of(d, baseWidth), null);
        for (int w : widths) sizes.put(List.of(baseDepth, w), null);
        for (List<Integer> key : sizes.keySet()) {
            err.printf("cost-growth: ViT depth %d, width %d ...%n", key.get(0), key.get(1));
            err.flush();
            sizes.put(key, timeSize(key.get(0), key.get(1)));
        }
        List<Incubation> incubations = new ArrayList<>();
        if (!noIncubation) {
            List<Integer> which = moduleList != null ? moduleList : IntStream.range(0, modules).boxed().toList();
            ViTConfig target = vit(baseDepth, baseWidth);
            Partition p = Partition.equal(target, modules);
            try (ImageClassifier meta = p.meta().build(cpu(), 1)) {
                for (int i : which) {
                    err.printf("cost-growth: incubation of module %d of %d ...%n", i, modules);
                    err.flush();
                    incubations.add(timeIncubation(p, i, meta.stateDict()));
                }
            }
        }
        String loadAfter = Report.loadAverage();

        Files.createDirectories(out);
        List<Size> depthSweep = depths.stream().map(d -> sizes.get(List.of(d, baseWidth))).toList();
        List<Size> widthSweep = widths.stream().map(w -> sizes.get(List.of(baseDepth, w))).toList();
        Plots.lines(String.format("ViT training step against depth (width %d, batch %d)", baseWidth, batch), "depth (blocks)", "ms per step",
                curves(depthSweep, Size::depth), out.resolve("depth.png"));
        Plots.lines(String.format("ViT training step against width (depth %d, batch %d)", baseDepth, batch), "width", "ms per step",
                curves(widthSweep, Size::width), out.resolve("width.png"));
        if (!incubations.isEmpty()) {
            Map<String, List<double[]>> lines = new LinkedHashMap<>();
            lines.put("incubation step", incubations.stream().map(c -> new double[]{c.module(), 1e3 * Timing.median(c.incubation().seconds())}).toList());
            lines.put("incubation, prefix kept to the step's end", incubations.stream().map(c -> new double[]{c.module(), 1e3 * Timing.median(c.prefixKept().seconds())}).toList());
            lines.put("naive full backward", incubations.stream().map(c -> new double[]{c.module(), 1e3 * Timing.median(c.naive().seconds())}).toList());
            Plots.lines(String.format("Incubation step against a naive full backward (ViT depth %d, K = %d, batch %d)", baseDepth, modules, batch),
                    "module i", "ms per step", lines, out.resolve("incubation.png"));
        }
        Files.writeString(out.resolve("cost-growth.json"), Report.JSON.writerWithDefaultPrettyPrinter()
                .writeValueAsString(json(depthSweep, widthSweep, incubations, started, loadBefore, loadAfter)));
        String md = markdown(depthSweep, widthSweep, incubations, started, loadBefore, loadAfter);
        Files.writeString(out.resolve("README.md"), md);
        spec.commandLine().getOut().print(md);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private void validate() {
        if (reps < BenchOptions.MIN_REPS)
            throw usage("--reps must be at least " + BenchOptions.MIN_REPS + " (got " + reps + "): a median of fewer is noise here");
        if (threads < 1) throw usage("--threads must be at least 1, got " + threads);
        if (batch < 1) throw usage("--batch must be positive, got " + batch);
        if (headWidth < 1) throw usage("--head-width must be positive, got " + headWidth);
        if (baseDepth < 1) throw usage("--base-depth must be positive, got " + baseDepth);
        if (depths.isEmpty() || depths.stream().anyMatch(d -> d < 1)) throw usage("--depths must be positive, got " + depths);
        if (widths.isEmpty() || widths.stream().anyMatch(w -> w < 1)) throw usage("--widths must be positive, got " + widths);
        for (int w : concat(widths, baseWidth))
            if (w < 1 || w % headWidth != 0) throw usage("width " + w + " is not a positive multiple of --head-width " + headWidth);
        if (!noIncubation) {
            if (modules < 1 || modules > baseDepth) throw usage("--modules must be between 1 and --base-depth " + baseDepth + ", got " + modules);
            if (modules == 1) throw usage("--modules 1 leaves no frozen meta block around the module: use 2 or more (or --no-incubation)");
            if (moduleList != null)
                for (int i : moduleList) if (i < 0 || i >= modules) throw usage("--module " + i + ": modules are 0.." + (modules - 1));
        }
    }

    private static List<Integer> concat(List<Integer> a, int b) {
        List<Integer> out = new ArrayList<>(a);
        out.add(b);
        return out;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    ViTConfig vit(int depth, int width) {
        return ModelStepBench.Vit.config(width, depth, width / headWidth);
    }

    /** The CPU backend every measurement here runs on: {@link #threads} threads. */
    private Backend cpu() {
        return CpuBackend.withThreads(threads);
    }

    private Size timeSize(int depth, int width) {
        Backend be = cpu();
        ViTConfig arch = vit(depth, width);
        int[] labels = ModelStepBench.labels(arch, batch);
        Size size;
        try (ImageClassifier model = arch.build(be, 0);
             Optimizer opt = Optimizer.create("adamw", model.parameters(), 0.05, 0.9);
             Tensor x = ModelStepBench.images(be, arch, batch)) {
            model.train(true);
            Runnable step = ModelStepBench.trainingStep(model, opt, model.parameters().values(), x, labels);
            Flops.Count flops = measure(be, step).flops();
            Timing.Result t = Timing.time(step, reps);
            size = new Size(depth, width, arch.numHeads(), model.parameterCount(), flops, t.seconds(), null);
        }
        if (!peer) return size;
        Peer.Outcome outcome = Peer.run(threads, "vit-step", "--batch", String.valueOf(batch), "--depth", String.valueOf(depth),
                "--width", String.valueOf(width), "--heads", String.valueOf(arch.numHeads()), "--reps", String.valueOf(reps));
        return new Size(depth, width, size.heads(), size.params(), size.flopsPerStep(), size.seconds(), outcome);
    }

    /**
     * Runs {@code step} twice, the second time counting its FLOPs and the engine's peak memory above what was live
     * before it (the first allocates the optimizer's state and any persistent gradient, which are not the step's).
     */
    private static Cost measure(Backend be, Runnable step) {
        step.run();
        long live = be.memory().liveBytes();
        be.memory().resetPeak();
        Flops.Count before = Flops.now();
        step.run();
        return new Cost(Flops.now().minus(before), be.memory().peakBytes() - live);
    }

    private Incubation timeIncubation(Partition p, int i, Map<String, Tensor> metaState) {
        Backend be = cpu();
        ViTConfig target = (ViTConfig) p.target();
        int[] labels = ModelStepBench.labels(target, batch);
        // two copies of hybrid(i), identical weights: the trainer's (frozen outside module i) and the naive one (all on the tape)
        try (ImageClassifier incubated = Assembly.hybrid(p, i, metaState, "the meta model", be, 2, UnaryOperator.identity());
             ImageClassifier naive = Assembly.hybrid(p, i, metaState, "the meta model", be, 2, UnaryOperator.identity());
             Tensor x = ModelStepBench.images(be, target, batch)) {
            naive.setTrainable(true);
            incubated.train(true);
            naive.train(true);
            LinkedHashMap<String, Tensor> mine = incubated.trainableParameters(), naiveMine = new LinkedHashMap<>();
            mine.keySet().forEach(k -> naiveMine.put(k, naive.parameters().get(k)));
            try (Optimizer incubatedOpt = Optimizer.create("adamw", mine, 0.05, 0.9);
                 Optimizer naiveOpt = Optimizer.create("adamw", naiveMine, 0.05, 0.9)) {
                Runnable incubationStep = ModelStepBench.trainingStep((images, rng) -> incubated.forwardFrozenPrefix(images, i, rng),
                        incubatedOpt, mine.values(), x, labels);
                Runnable prefixKeptStep = ModelStepBench.trainingStep(incubated, incubatedOpt, mine.values(), x, labels);
                // every weight gradient is computed; those outside module i are thrown away by zeroing them each step
                Runnable naiveStep = ModelStepBench.trainingStep(naive, naiveOpt, naive.parameters().values(), x, labels);
                List<Runnable> steps = List.of(incubationStep, prefixKeptStep, naiveStep);
                List<Cost> costs = steps.stream().map(step -> measure(be, step)).toList();
                List<Timing.Result> times = Timing.interleaved(steps, reps);
                long trainable = mine.values().stream().mapToLong(Tensor::numel).sum();
                return new Incubation(i, i, p.depths()[i], p.modules() - 1 - i, trainable, incubated.parameterCount() - trainable,
                        new Step(times.get(0).seconds(), costs.get(0)), new Step(times.get(1).seconds(), costs.get(1)),
                        new Step(times.get(2).seconds(), costs.get(2)));
            }
        }
    }

    /** Ours (and the peer's) ms per step against x, with a line proportional to the FLOPs through the first point. */
    private Map<String, List<double[]>> curves(List<Size> sweep, java.util.function.ToIntFunction<Size> x) {
        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        curves.put("dma", sweep.stream().map(s -> new double[]{x.applyAsInt(s), s.medianMs()}).toList());
        if (sweep.stream().anyMatch(s -> s.peerImagesPerSecond() != null))
            curves.put("torch", sweep.stream().filter(s -> s.peerImagesPerSecond() != null)
                    .map(s -> new double[]{x.applyAsInt(s), 1e3 * batch / s.peerImagesPerSecond()}).toList());
        Size first = sweep.get(0);
        curves.put("∝ FLOPs (through the first point)", sweep.stream().map(s -> new double[]{x.applyAsInt(s),
                first.medianMs() * s.flopsPerStep().total() / first.flopsPerStep().total()}).toList());
        return curves;
    }

    private String command() {
        return Report.commandLine(spec.commandLine().getParseResult().originalArgs());
    }

    private ObjectNode json(List<Size> depthSweep, List<Size> widthSweep, List<Incubation> incubations, ZonedDateTime started,
                            String loadBefore, String loadAfter) {
        ObjectNode root = Report.JSON.createObjectNode().put("workload", "cost-growth").put("command", command())
                .put("started", started.toString()).put("load_before", loadBefore).put("load_after", loadAfter)
                .put("machine", Report.machine()).put("threads", threads).put("batch", batch).put("reps", reps)
                .put("head_width", headWidth);
        sizesJson(root.putArray("depth_sweep"), depthSweep);
        sizesJson(root.putArray("width_sweep"), widthSweep);
        ArrayNode inc = root.putArray("incubation");
        for (Incubation c : incubations) {
            ObjectNode o = inc.addObject().put("module", c.module()).put("modules", modules).put("target_depth", baseDepth).put("width", baseWidth)
                    .put("prefix_blocks", c.prefixBlocks()).put("module_blocks", c.moduleBlocks()).put("suffix_blocks", c.suffixBlocks())
                    .put("trainable_params", c.trainable()).put("frozen_params", c.frozen()).put("ratio_naive_over_incubation", c.ratio());
            stepJson(o.putObject("incubation"), c.incubation());
            stepJson(o.putObject("incubation_prefix_kept"), c.prefixKept());
            stepJson(o.putObject("naive"), c.naive());
        }
        return root;
    }

    private void sizesJson(ArrayNode array, List<Size> sweep) {
        for (Size s : sweep) {
            ObjectNode o = array.addObject().put("depth", s.depth()).put("width", s.width()).put("heads", s.heads()).put("params", s.params())
                    .put("median_ms", s.medianMs()).put("images_per_s", s.imagesPerSecond(batch));
            Arrays.stream(s.seconds()).forEach(o.putArray("seconds")::add);
            flopsJson(o.putObject("flops_per_step"), s.flopsPerStep());
            if (s.peer() != null) {
                ObjectNode p = o.putObject("peer");
                if (s.peer().available()) p.put("available", true).setAll(s.peer().result());
                else p.put("available", false).put("reason", s.peer().unavailable());
            }
        }
    }

    private static void stepJson(ObjectNode o, Step s) {
        o.put("median_ms", 1e3 * Timing.median(s.seconds())).put("peak_mb", s.cost().peakBytes() / 1e6);
        Arrays.stream(s.seconds()).forEach(o.putArray("seconds")::add);
        flopsJson(o.putObject("flops_per_step"), s.cost().flops());
    }

    private static void flopsJson(ObjectNode o, Flops.Count f) {
        o.put("forward", f.forward()).put("input_grad", f.inputGrad()).put("weight_grad", f.weightGrad());
    }

    private String markdown(List<Size> depthSweep, List<Size> widthSweep, List<Incubation> incubations, ZonedDateTime started,
                            String loadBefore, String loadAfter) {
        StringBuilder md = new StringBuilder();
        md.append("# How the ViT training step's cost grows, ").append(started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"))).append("\n\n");
        md.append("- **Command**: `").append(command()).append("`\n");
        md.append("- **Load average** (1, 5, 15 min, /proc/loadavg): ").append(loadBefore).append(" before, ").append(loadAfter).append(" after\n");
        md.append("- **Machine**: ").append(Report.machine()).append("; ").append(threads).append(threads == 1 ? " thread" : " threads").append("\n");
        md.append("- **Step**: DESIGN §5's ViT (28×28×1, patch 4, 50 tokens, MLP ×4, drop path 0.1, 10 classes), heads = width / ")
                .append(headWidth).append(", batch ").append(batch).append(", forward + cross-entropy + backward + AdamW; ")
                .append(reps).append(" repetitions after warm-up (dma.bench.Timing), min / median / max\n");
        md.append("- **GFLOP/step**: the engine's own count (dma.engine.Flops: forward + input gradients + weight gradients)\n\n");
        md.append("## Depth (width ").append(baseWidth).append(")\n\n");
        sizeTable(md, depthSweep);
        md.append("\n![ms per step against depth](depth.png)\n\n");
        md.append("## Width (depth ").append(baseDepth).append(")\n\n");
        sizeTable(md, widthSweep);
        md.append("\n![ms per step against width](width.png)\n");
        if (!incubations.isEmpty()) {
            md.append("\n## Incubation step against a naive full backward\n\n");
            md.append("Target: ViT depth ").append(baseDepth).append(", width ").append(baseWidth).append(", cut into K = ").append(modules)
                    .append(" modules of ").append(Arrays.toString(Partition.equal(vit(baseDepth, baseWidth), modules).depths()))
                    .append(" blocks. Hybrid i: the meta model (one block per module, random weights here) with block i replaced by module i, ")
                    .append("as the trainer's incubate stage builds it (Assembly.hybrid). **Incubation**: the trainer's step, everything outside ")
                    .append("module i frozen, so the prefix records no tape and the suffix's backward computes input gradients only. ")
                    .append("**Naive**: the same hybrid with every tensor trainable, all weight gradients computed and those outside module i discarded. ")
                    .append("Both update module i with AdamW. The incubation step runs the prefix under GradMode.disabled() in a scope of its own, so its ")
                    .append("activations are freed before module i runs; **prefix kept**: the same step with the prefix on the step's scope until it ends. ")
                    .append("The three steps' repetitions alternate. Peak = the engine's memory during one step above what it held before.\n\n");
            md.append("| module i | blocks: prefix + module + suffix | trainable / frozen params | incubation ms/step (min / median / max) | naive ms/step (min / median / max) | naive / incubation | prefix kept ms/step (median) | GFLOP/step incubation (fwd / input grad / weight grad) | GFLOP/step naive | peak MB incubation / prefix kept / naive |\n");
            md.append("|---:|---|---|---|---|---:|---:|---|---|---|\n");
            for (Incubation c : incubations)
                md.append(String.format("| %d | %d + %d + %d | %sM / %sM | %s | %s | **%.2f** | %s | %s | %s | %s / %s / %s |%n", c.module(),
                        c.prefixBlocks(), c.moduleBlocks(), c.suffixBlocks(), Report.num(c.trainable() / 1e6), Report.num(c.frozen() / 1e6),
                        msRange(c.incubation().seconds()), msRange(c.naive().seconds()), c.ratio(), Report.num(1e3 * Timing.median(c.prefixKept().seconds())),
                        gflops(c.incubation().cost().flops()), gflops(c.naive().cost().flops()), Report.num(c.incubation().cost().peakBytes() / 1e6),
                        Report.num(c.prefixKept().cost().peakBytes() / 1e6), Report.num(c.naive().cost().peakBytes() / 1e6)));
            md.append("\n![incubation against naive](incubation.png)\n");
        }
        return md.toString();
    }

    private void sizeTable(StringBuilder md, List<Size> sweep) {
        boolean peers = sweep.stream().anyMatch(s -> s.peer() != null);
        md.append("| depth | width | heads | params | GFLOP/step | ms/step (min / median / max) | images/s | time × | GFLOP × |")
                .append(peers ? " torch images/s | dma / torch |" : "").append("\n|---:|---:|---:|---:|---:|---|---:|---:|---:|")
                .append(peers ? "---:|---:|" : "").append("\n");
        Size first = sweep.get(0);
        for (Size s : sweep) {
            md.append(String.format("| %d | %d | %d | %sM | %s | %s | %.1f | %.2f | %.2f |", s.depth(), s.width(), s.heads(), Report.num(s.params() / 1e6),
                    Report.num(s.flopsPerStep().total() / 1e9), msRange(s.seconds()), s.imagesPerSecond(batch), s.medianMs() / first.medianMs(),
                    (double) s.flopsPerStep().total() / first.flopsPerStep().total()));
            if (peers) {
                Double torch = s.peerImagesPerSecond();
                md.append(torch == null ? " unavailable: " + s.peer().unavailable() + " | |"
                        : String.format(" %.1f | %.2f |", torch, s.imagesPerSecond(batch) / torch));
            }
            md.append("\n");
        }
    }

    private static String msRange(double[] seconds) {
        return String.format("%.1f / %.1f / %.1f", 1e3 * Arrays.stream(seconds).min().orElse(Double.NaN), 1e3 * Timing.median(seconds),
                1e3 * Arrays.stream(seconds).max().orElse(Double.NaN));
    }

    private static String gflops(Flops.Count f) {
        return Report.num(f.forward() / 1e9) + " / " + Report.num(f.inputGrad() / 1e9) + " / " + Report.num(f.weightGrad() / 1e9);
    }
}
