package dma.trainer.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Backends;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code dma doctor} through the real launcher: every section is there, and an unusable CUDA backend says why and how to fix it. */
class DoctorCommandTest {
    private final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    @Test
    void reportNamesEveryBackendAndEveryCudaStep() {
        assertEquals(0, run("doctor"), err.toString());
        String report = out.toString();
        assertTrue(report.contains(System.getProperty("java.version")), report);
        assertTrue(report.contains(Runtime.getRuntime().availableProcessors() + " hardware threads"), report);
        assertTrue(report.contains("backend cpu        available"), report);
        for (String step : new String[]{"kernels", "jcuda natives", "driver", "cublas", "backend"})
            assertTrue(report.contains("  " + step + " "), "no line for step '" + step + "':\n" + report);
        String why = Backends.unavailableReason("cuda");
        if (why == null) {
            assertTrue(report.contains("backend cuda       available"), report);
        } else {
            // no GPU here: the report gives the backend's own reason and at least one fix
            assertTrue(report.contains("backend cuda       unavailable: " + why), report);
            assertTrue(report.contains("To fix:"), report);
            if (why.contains("libcuda.so.1"))
                assertTrue(report.contains("needs libcuda.so.1") && report.contains("install the NVIDIA driver"), report);
        }
    }

    @Test
    void jsonCarriesTheSameFacts() throws Exception {
        assertEquals(0, run("doctor", "--json"), err.toString());
        JsonNode j = new ObjectMapper().readTree(out.toString());
        assertEquals(System.getProperty("java.version"), j.get("java").get("version").asText());
        assertTrue(j.get("backends").get("cpu").get("available").asBoolean());
        String why = Backends.unavailableReason("cuda");
        assertEquals(why == null, j.get("backends").get("cuda").get("available").asBoolean());
        if (why != null) assertEquals(why, j.get("backends").get("cuda").get("reason").asText());
        assertTrue(j.get("cuda_checks").size() >= 4, j.toString());
    }
}
