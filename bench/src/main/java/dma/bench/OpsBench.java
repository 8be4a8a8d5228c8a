package dma.bench;

import dma.bench.jmh.ops.AdamWJmh;
import dma.bench.jmh.ops.AttentionJmh;
import dma.bench.jmh.ops.GeluJmh;
import dma.bench.jmh.ops.Im2colJmh;
import dma.bench.jmh.ops.LayerNormJmh;
import dma.bench.jmh.ops.OpBench;
import dma.bench.jmh.ops.SoftmaxJmh;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.NoBenchmarksException;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code dma bench ops}: the per-op JMH benchmarks of {@code dma.bench.jmh.ops} (LayerNorm, softmax, GELU,
 * attention, AdamW, im2col) with a short default, as one Markdown table of µs per call and GB/s or GFLOP/s.
 */
@Command(name = "ops", mixinStandardHelpOptions = true,
        description = "JMH microbenchmarks of single ops on the CPU backend at the ViT step's shapes (LayerNorm, softmax, GELU, "
                + "attention fused and composed, AdamW) and the ResNet's (im2col, col2im): µs per call and GB/s or GFLOP/s, "
                + "printed as a Markdown table (JMH's progress goes to stderr).")
public final class OpsBench implements Callable<Integer> {
    static final String PACKAGE = "dma.bench.jmh.ops";
    /** The benchmarks in the table's order. */
    static final List<Class<? extends OpBench>> BENCHMARKS = List.of(LayerNormJmh.class, SoftmaxJmh.class, GeluJmh.class,
            AttentionJmh.class, AdamWJmh.class, Im2colJmh.class);

    @Spec
    CommandSpec spec;

    @Option(names = "--forks", description = "JVM forks per benchmark; 0 runs in this JVM (for a quick check only) (default: ${DEFAULT-VALUE}).")
    int forks = 1;
    @Option(names = "--warmup", description = "Warm-up iterations per benchmark (default: ${DEFAULT-VALUE}).")
    int warmup = 2;
    @Option(names = "--iterations", description = "Measured iterations per benchmark (default: ${DEFAULT-VALUE}).")
    int iterations = 3;
    @Option(names = "--time", description = "Length of each iteration, as JMH writes it: 500ms, 1s, 2s (default: ${DEFAULT-VALUE}).")
    String time = "1s";
    @Option(names = "--threads", description = "Threads of the CPU backend (default: the machine's cores, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();
    @Option(names = "--only", paramLabel = "REGEX", description = "Only the benchmarks whose name matches, e.g. LayerNorm or 'Attention.*fused'.")
    String only;
    @Option(names = {"-p", "--param"}, paramLabel = "NAME=VALUES",
            description = "Sets a shape parameter, several values comma-separated: -p batch=8, -p conv=16x32s1,64x8s1.")
    Map<String, String> params = new LinkedHashMap<>();
    @Option(names = "--out", paramLabel = "FILE", description = "Also write the Markdown table to this file.")
    Path out;
    @Option(names = "--quiet", description = "Leave JMH's progress out.")
    boolean quiet;

    /** One line of the table. */
    record Row(String benchmark, String shape, double microsPerCall, String unit, double work, double workError) {}

    @Override
    public Integer call() throws IOException {
        TimeValue iteration = validate();
        String loadBefore = Report.loadAverage();
        ZonedDateTime started = ZonedDateTime.now(ZoneOffset.UTC);
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(Pattern.quote(PACKAGE + ".") + ".*" + (only == null ? "" : "(?:" + only + ")"))
                .forks(forks).jvmArgsAppend(dma.trainer.launch.DmaCommand.JVM_FLAGS.toArray(String[]::new)).warmupIterations(warmup).measurementIterations(iterations)
                .warmupTime(iteration).measurementTime(iteration)
                .param("threads", String.valueOf(threads))
                .shouldFailOnError(true);
        params.forEach((name, values) -> options.param(name, values.split(",")));
        PrintStream progress = quiet ? new PrintStream(OutputStream.nullOutputStream()) : System.err;
        Collection<RunResult> results;
        try {
            results = new Runner(options.build(), OutputFormatFactory.createFormatInstance(progress, quiet ? VerboseMode.SILENT : VerboseMode.NORMAL)).run();
        } catch (NoBenchmarksException e) {
            throw new IllegalArgumentException("no benchmark matches --only '" + only + "'");
        } catch (RunnerException e) {
            throw new IllegalStateException("JMH: " + e.getMessage() + (e.getCause() != null ? " (" + e.getCause() + ")" : ""), e);
        }
        String markdown = markdown(rows(results), started, loadBefore, Report.loadAverage(), iteration);
        spec.commandLine().getOut().print(markdown);
        spec.commandLine().getOut().flush();
        if (out != null) {
            Path dir = out.toAbsolutePath().getParent();
            if (dir != null) Files.createDirectories(dir);
            Files.writeString(out, markdown);
        }
        return 0;
    }

    private TimeValue validate() {
        if (forks < 0) throw usage("--forks must be 0 or more, got " + forks);
        if (warmup < 0) throw usage("--warmup must be 0 or more, got " + warmup);
        if (iterations < 1) throw usage("--iterations must be at least 1, got " + iterations);
        if (threads < 1) throw usage("--threads must be at least 1, got " + threads);
        if (only != null) {
            try {
                Pattern.compile(only);
            } catch (PatternSyntaxException e) {
                throw usage("--only is not a regular expression: " + e.getDescription());
            }
        }
        TreeSet<String> known = shapeParameters();
        params.forEach((name, values) -> {
            if (name.equals("threads")) throw usage("set the threads with --threads, not -p threads");
            if (!known.contains(name)) throw usage("-p " + name + ": no benchmark has that parameter (known: " + String.join(", ", known) + ")");
            if (values.isBlank() || Arrays.stream(values.split(",", -1)).anyMatch(String::isBlank))
                throw usage("-p " + name + "=" + values + ": empty value");
        });
        TimeValue t;
        try {
            t = TimeValue.fromString(time);
        } catch (RuntimeException e) {
            throw usage("--time '" + time + "' is not a duration like 500ms or 1s");
        }
        if (t.convertTo(java.util.concurrent.TimeUnit.NANOSECONDS) <= 0) throw usage("--time must be positive, got " + time);
        return t;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** The @Param names of the benchmarks, inherited ones included, but the thread count. */
    static TreeSet<String> shapeParameters() {
        TreeSet<String> names = new TreeSet<>();
        for (Class<?> c : BENCHMARKS)
            for (Field f : c.getFields())
                if (f.isAnnotationPresent(Param.class) && !f.getName().equals("threads")) names.add(f.getName());
        return names;
    }

    /** The results in the table's order (by benchmark class, then as JMH ran them), each with its shape and work rate. */
    static List<Row> rows(Collection<RunResult> results) {
        List<RunResult> sorted = new ArrayList<>(results);
        sorted.sort(Comparator.comparingInt(r -> classIndex(r.getParams().getBenchmark())));
        List<Row> rows = new ArrayList<>();
        for (RunResult r : sorted) {
            BenchmarkParams p = r.getParams();
            String name = p.getBenchmark().substring(PACKAGE.length() + 1);
            Result<?> work = r.getSecondaryResults().values().stream().findFirst().orElse(null);
            rows.add(new Row(name.replace("Jmh.", "."), describe(p), 1e6 / r.getPrimaryResult().getScore(),
                    work == null ? "" : work.getLabel(), work == null ? Double.NaN : work.getScore(),
                    work == null ? Double.NaN : work.getScoreError()));
        }
        return rows;
    }

    private static int classIndex(String benchmark) {
        String cls = benchmark.substring(0, benchmark.lastIndexOf('.'));
        for (int i = 0; i < BENCHMARKS.size(); i++) if (BENCHMARKS.get(i).getName().equals(cls)) return i;
        return BENCHMARKS.size();
    }

    /** The benchmark's {@link OpBench#shape()} for the parameters it ran with. */
    private static String describe(BenchmarkParams p) {
        String benchmark = p.getBenchmark();
        try {
            OpBench state = (OpBench) Class.forName(benchmark.substring(0, benchmark.lastIndexOf('.'))).getDeclaredConstructor().newInstance();
            for (String key : p.getParamsKeys()) {
                Field f = state.getClass().getField(key);
                f.set(state, f.getType() == int.class ? Integer.valueOf(p.getParam(key)) : p.getParam(key));
            }
            return state.shape();
        } catch (ReflectiveOperationException | ClassCastException e) {
            return "?";
        }
    }

    String markdown(List<Row> rows, ZonedDateTime started, String loadBefore, String loadAfter, TimeValue iteration) {
        StringBuilder md = new StringBuilder();
        md.append("# CPU ops: JMH microbenchmarks, ").append(started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"))).append("\n\n");
        md.append("- **Command**: `").append(Report.commandLine(spec.commandLine().getParseResult().originalArgs())).append("`\n");
        md.append("- **Load average** (1, 5, 15 min, /proc/loadavg): ").append(loadBefore).append(" before, ").append(loadAfter).append(" after\n");
        md.append("- **Machine**: ").append(Report.machine()).append("; CPU backend on ").append(threads).append(threads == 1 ? " thread\n" : " threads\n");
        md.append("- **JMH**: ").append(forks).append(forks == 1 ? " fork, " : " forks, ").append(warmup).append(" warm-up and ").append(iterations)
                .append(" measured iterations of ").append(iteration).append(" per benchmark; ± is JMH's 99.9% half-interval (none under three iterations)\n");
        md.append("- **Shapes**: DESIGN §5's ViT step (batch 64, 50 tokens, width 192, 3 heads, MLP ×4) and the CIFAR ResNet's 3×3 convolutions at batch 128")
                .append(params.isEmpty() ? "" : ", with " + String.join(", ", params.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList()))
                .append("\n");
        md.append("- **Work**: GB = the least traffic of the op (every operand read once, every result written once, an accumulated gradient read and written); ")
                .append("GFLOP = the products only (attention: q·kᵀ and p·v forward, four such products backward)\n\n");
        md.append("| benchmark | shape | µs per call | GB/s | GFLOP/s |\n|---|---|---:|---:|---:|\n");
        for (Row r : rows) {
            String rate = rate(r.work(), r.workError());
            md.append("| ").append(r.benchmark()).append(" | ").append(r.shape()).append(" | ").append(Report.num(r.microsPerCall()))
                    .append(" | ").append(r.unit().equals("GB") ? rate : "").append(" | ").append(r.unit().equals("GFLOP") ? rate : "").append(" |\n");
        }
        return md.toString();
    }

    private static String rate(double value, double error) {
        if (!Double.isFinite(value)) return "";
        return Double.isFinite(error) ? Report.num(value) + " ± " + Report.num(error) : Report.num(value);
    }
}
