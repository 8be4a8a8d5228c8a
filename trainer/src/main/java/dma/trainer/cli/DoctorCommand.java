package dma.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.Backends;
import dma.engine.cpu.CpuBackend;
import dma.engine.cuda.CudaDiagnosis;
import dma.engine.cuda.CudaDiagnosis.Check;
import dma.engine.cuda.CudaDiagnosis.Status;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code dma doctor}: what this machine offers the engine (Java, CPU, each backend) and, for CUDA, each step from
 * the compiled kernels to an open device, so that a backend that does not work says which step failed and how to fix it.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = {"Report the Java runtime, the CPU, the backends available and, for CUDA, the kernels, JCuda's natives, the driver,"
                + " the GPU and cuBLAS; every failed step with how to fix it."})
public final class DoctorCommand implements Callable<Integer>, Subcommand {
    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        // The CUDA steps first: they load the native libraries themselves, so each failure is seen where it happens.
        List<Check> cuda = CudaDiagnosis.run();
        String cpuReason = Backends.unavailableReason("cpu"), cudaReason = Backends.unavailableReason("cuda");
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode root = m.createObjectNode();
            root.putObject("java").put("version", System.getProperty("java.version")).put("vendor", System.getProperty("java.vendor"))
                    .put("vm", System.getProperty("java.vm.name")).put("home", System.getProperty("java.home"));
            root.putObject("cpu").put("model", cpuModel()).put("threads", Runtime.getRuntime().availableProcessors()).put("engine_threads", CpuBackend.get().threads());
            ObjectNode backends = root.putObject("backends");
            backends.putObject("cpu").put("available", cpuReason == null).put("reason", cpuReason);
            backends.putObject("cuda").put("available", cudaReason == null).put("reason", cudaReason);
            ArrayNode steps = root.putArray("cuda_checks");
            for (Check c : cuda)
                steps.addObject().put("name", c.name()).put("status", c.status().name().toLowerCase()).put("found", c.found()).put("fix", c.fix());
            out.println(m.writerWithDefaultPrettyPrinter().writeValueAsString(root));
            out.flush();
            return 0;
        }
        out.println("dma doctor");
        row(out, "java", System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ", " + System.getProperty("java.vm.name")
                + ") at " + System.getProperty("java.home"));
        row(out, "cpu", Runtime.getRuntime().availableProcessors() + " hardware threads (" + cpuModel() + "); the CPU backend uses "
                + CpuBackend.get().threads() + " (DMA_THREADS)");
        row(out, "backend cpu", cpuReason == null ? "available" : "unavailable: " + cpuReason);
        row(out, "backend cuda", cudaReason == null ? "available" : "unavailable: " + cudaReason);
        out.println("CUDA, step by step:");
        for (Check c : cuda) row(out, "  " + c.name(), (c.status() == Status.OK ? "ok       " : c.status() == Status.FAILED ? "FAILED   " : "skipped  ") + c.found());
        List<Check> failed = cuda.stream().filter(c -> c.status() == Status.FAILED && c.fix() != null && !c.name().equals("backend")).toList();
        if (!failed.isEmpty()) {
            out.println("To fix:");
            for (Check c : failed) out.println("  " + c.name() + ": " + c.fix());
        }
        out.flush();
        return 0;
    }

    private static void row(PrintWriter out, String name, String value) {
        out.printf("%-18s %s%n", name, value);
    }

    /** The CPU's model name, from /proc/cpuinfo. */
    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).strip()).findFirst().orElse("unknown model");
        } catch (IOException | RuntimeException e) {
            return "unknown model";
        }
    }
}
