package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.Architecture;
import dma.models.ImageClassifier;
import dma.models.resnet.ResNetConfig;
import dma.trainer.optim.Optimizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.File;
import java.io.PrintWriter;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * This build of the engine against another, in one JVM: each build in a class loader of its own (its own JIT-compiled
 * copy of every class), training steps of the same model and batch taken in pairs, each build first in every other
 * pair. The ratio of each pair of steps taken back to back judges a change of a few percent on a machine whose speed
 * drifts by tens of percent within minutes, where two separate runs cannot. Both builds need this class (the other
 * build's step comes from it).
 */
@Command(name = "ab", mixinStandardHelpOptions = true,
        description = {"This build against another build's dma.jar in one JVM, training steps taken in turns: each build's step time and "
                + "the median ratio of steps taken back to back (this / other). The other build must have this command too.",
                "Example: keep a build's jar (cp bench/target/dma.jar /tmp/before.jar), change the code, then: ./dma bench ab /tmp/before.jar"})
final class AbBench implements Callable<Integer> {
    /** Steps of each build before the timed pairs (the JIT compiles the kernels of both). */
    private static final int WARMUP_PAIRS = 3;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "OTHER", description = "The other build: its dma.jar (or a class path).")
    String other;

    @Option(names = "--workload", description = "resnet-step or vit-step (the models of those benchmarks; default: ${DEFAULT-VALUE}).")
    String workload = "resnet-step";

    @Option(names = "--batch", description = "Images per step (default: the workload's, 128 or 64).")
    Integer batch;

    @Option(names = "--depth", description = "Model depth (default: the workload's, 110 or 12).")
    Integer depth;

    @Option(names = "--width", description = "vit-step: embedding width (default: 192).")
    Integer width;

    @Option(names = "--heads", description = "vit-step: attention heads (default: 3).")
    Integer heads;

    @Option(names = "--patch", description = "vit-step: patch size, a divisor of 28 (default: 4).")
    Integer patch;

    @Option(names = "--reps", description = "Steps timed per build, in turns (default: ${DEFAULT-VALUE}).")
    int reps = 20;

    @Option(names = "--threads", description = "CPU threads of each build (default: the machine's cores, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--json", description = "Print one JSON object with every figure on stdout, and nothing else there.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (!workload.equals("resnet-step") && !workload.equals("vit-step"))
            throw new IllegalArgumentException("--workload must be resnet-step or vit-step, got " + workload);
        if (reps < BenchOptions.MIN_REPS) throw new IllegalArgumentException("--reps must be at least " + BenchOptions.MIN_REPS + ", got " + reps);
        int b = batch != null ? batch : workload.equals("resnet-step") ? 128 : 64, d = depth != null ? depth : workload.equals("resnet-step") ? 110 : 12;
        boolean shaped = width != null || heads != null || patch != null;
        if (shaped && !workload.equals("vit-step")) throw new IllegalArgumentException("--width, --heads and --patch are for vit-step");
        int w = width != null ? width : 192, h = heads != null ? heads : 3, p = patch != null ? patch : 4;
        List<Runnable> steps = new ArrayList<>();
        for (String path : List.of(System.getProperty("java.class.path"), other))
            steps.add(step(path, workload, threads, b, d, w, h, p, shaped));
        Runnable mine = steps.get(0), theirs = steps.get(1);
        for (int i = 0; i < WARMUP_PAIRS; i++) {
            mine.run();
            theirs.run();
        }
        // pairs of steps, each build first in every other pair: run against itself, the first of a fixed pair ran
        // 1–4% faster, which alternating cancels
        double[] ours = new double[reps], other = new double[reps], ratio = new double[reps];
        for (int i = 0; i < reps; i++) {
            if (i % 2 == 0) {
                ours[i] = seconds(mine);
                other[i] = seconds(theirs);
            } else {
                other[i] = seconds(theirs);
                ours[i] = seconds(mine);
            }
            ratio[i] = ours[i] / other[i];
        }
        ObjectNode root = Report.JSON.createObjectNode().put("workload", workload).put("batch", b).put("depth", d)
                .put("threads", threads).put("other", this.other);
        if (workload.equals("vit-step")) root.put("width", w).put("heads", h).put("patch", p);
        root.set("this", Report.side("this build", 1, "step_s", ours));
        root.set("other_build", Report.side("other build", 1, "step_s", other));
        root.set("ratio", Report.side("this / other", 1, "ratio", ratio));
        PrintWriter out = spec.commandLine().getOut();
        if (json) out.println(Report.JSON.writeValueAsString(root));
        else {
            out.printf("%s training step, batch %d, depth %d%s, %d threads, %d steps per build in turns, in one JVM%n", workload, b, d,
                    workload.equals("vit-step") ? String.format(", width %d, %d heads, patch %d", w, h, p) : "", threads, reps);
            out.printf("%-26s %9s %9s %9s   (step s)%n", "", "min", "median", "max");
            row(out, "this build", ours);
            row(out, "other (" + Path.of(this.other).getFileName() + ")", other);
            row(out, "ratio of pairs, this/other", ratio);
        }
        out.flush();
        return 0;
    }

    private static double seconds(Runnable step) {
        long t0 = System.nanoTime();
        step.run();
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void row(PrintWriter out, String name, double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        out.printf("%-26s %9.3f %9.3f %9.3f%n", name, s[0], s[s.length / 2], s[s.length - 1]);
    }

    /**
     * One build's training step: {@link #step(String, int, int, int, int, int, int)} (or, in builds older than it,
     * {@link #step(String, int, int, int)}, refused when {@code shaped}: a ViT shape other than the default was asked
     * for) called inside a class loader of that build's own, so each build sets its thread count its own way (this one
     * on its CPU backend, {@link CpuBackend#withThreads}; older builds through their static {@code Parallel.setThreads}),
     * each on its own copy of the engine's classes. Only these methods' names and signatures must stay the same from
     * build to build.
     */
    private static Runnable step(String classPath, String workload, int threads, int batch, int depth, int width, int heads,
                                 int patch, boolean shaped) throws Exception {
        List<URL> urls = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (!Files.exists(p)) throw new IllegalArgumentException(entry + " does not exist");
            urls.add(p.toUri().toURL());
        }
        ClassLoader loader = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
        Class<?> c;
        try {
            c = Class.forName(AbBench.class.getName(), true, loader);
        } catch (ClassNotFoundException e) {
            throw new IllegalArgumentException(classPath + " has no " + AbBench.class.getName() + " (a build older than this command)", e);
        }
        java.lang.reflect.Method make;
        try {
            make = c.getDeclaredMethod("step", String.class, int.class, int.class, int.class, int.class, int.class, int.class);
        } catch (NoSuchMethodException e) {
            if (shaped) throw new IllegalArgumentException(classPath + " knows only depth (a build older than --width, --heads and --patch)", e);
            make = c.getDeclaredMethod("step", String.class, int.class, int.class, int.class);
            make.setAccessible(true);
            return (Runnable) make.invoke(null, workload, threads, batch, depth);
        }
        make.setAccessible(true);
        return (Runnable) make.invoke(null, workload, threads, batch, depth, width, heads, patch);
    }

    /** The training step of resnet-step or vit-step on the CPU backend, as those benchmarks build it (the model stays open). */
    static Runnable step(String workload, int threads, int batch, int depth) {
        return step(workload, threads, batch, depth, 192, 3, 4);
    }

    /** {@link #step(String, int, int, int)} with the ViT's width, heads and patch (ignored for resnet-step). */
    static Runnable step(String workload, int threads, int batch, int depth, int width, int heads, int patch) {
        Backend be = CpuBackend.withThreads(threads);
        Architecture arch = workload.equals("resnet-step") ? ResNetConfig.cifar(depth, 3, 10) : ModelStepBench.Vit.config(width, depth, heads, patch);
        ImageClassifier model = arch.build(be, 0);
        Optimizer opt = Optimizer.create(workload.equals("resnet-step") ? "sgd" : "adamw", model.parameters(), 0.05, 0.9);
        Tensor x = ModelStepBench.images(be, arch, batch);
        model.train(true);
        return ModelStepBench.trainingStep(model, opt, model.parameters().values(), x, ModelStepBench.labels(arch, batch));
    }
}
