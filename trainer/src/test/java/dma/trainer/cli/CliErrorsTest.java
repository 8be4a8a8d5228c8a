package dma.trainer.cli;

import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input ends with one line naming the file and exit code 2, never a stack trace; a bug says so and where its trace went, exit 3. */
class CliErrorsTest {
    record Outcome(int code, String err) {
        List<String> lines() {
            return Arrays.stream(err.split("\n")).filter(l -> !l.isBlank() && !l.startsWith("WARNING")).toList();
        }
    }

    private static Outcome dma(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Outcome(code, err.toString());
    }

    private static Path inputs(Path dir) {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("input", new HostTensor("F32", new long[]{1, 1, 28, 28}, new byte[4 * 28 * 28]));
        Path f = dir.resolve("inputs.safetensors");
        Safetensors.write(f, t, null);
        return f;
    }

    /** A checkpoint that is bad in one way: the eval fails with one line naming it, exit 2, and writes no logits. */
    private static void badCheckpoint(Path dir, Path checkpoint, String expected) {
        Path out = dir.resolve("logits.safetensors");
        Outcome o = dma("eval", "--checkpoint", checkpoint.toString(), "--inputs", inputs(dir).toString(), "--logits-out", out.toString());
        assertEquals(Main.BAD_INPUT, o.code(), o.err());
        assertEquals(1, o.lines().size(), o.err());
        String line = o.lines().get(0);
        assertTrue(line.startsWith("dma eval: ") && line.contains(checkpoint.toString()) && line.contains(expected), line);
        assertFalse(o.err().contains("\tat "), "no stack trace: " + o.err());
        assertFalse(Files.exists(out), "no logits written");
    }

    @Test
    void malformedCheckpointsAreOneLineEach(@TempDir Path dir) throws Exception {
        badCheckpoint(dir, dir.resolve("missing.safetensors"), "");
        badCheckpoint(dir, Files.createDirectories(dir.resolve("a-directory")), "");
        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, new byte[]{1, 2, 3});
        badCheckpoint(dir, truncated, "");
        Path pastEnd = dir.resolve("past-end.safetensors");
        byte[] b = new byte[16];
        b[0] = (byte) 0xff; // header length 255 in a 16-byte file
        Files.write(pastEnd, b);
        badCheckpoint(dir, pastEnd, "");
        Path noArchitecture = dir.resolve("unknown.safetensors");
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("something.weight", new HostTensor("F32", new long[]{2}, new byte[8]));
        Safetensors.write(noArchitecture, t, null);
        badCheckpoint(dir, noArchitecture, "cannot infer the model family");
    }

    @Test
    void aMissingConfigOrStudyFileIsOneLine(@TempDir Path dir) {
        Outcome o = dma("meta", "--config", dir.resolve("nope.json").toString(), "--run-dir", dir.resolve("run").toString());
        assertEquals(Main.BAD_INPUT, o.code(), o.err());
        assertEquals(1, o.lines().size(), o.err());
        assertTrue(o.lines().get(0).startsWith("dma meta: ") && o.lines().get(0).contains("nope.json"), o.err());
        o = dma("study", dir.resolve("study.json").toString());
        assertEquals(Main.BAD_INPUT, o.code(), o.err());
        assertTrue(o.lines().get(0).startsWith("dma study: ") && o.lines().get(0).contains("study.json"), o.err());
    }

    @Test
    void aBugSaysSoAndWhereItsTraceIs() throws Exception {
        StringWriter err = new StringWriter();
        int code = Main.report(new NullPointerException("a field was null"), "dma meta", new PrintWriter(err, true));
        assertEquals(Main.BUG, code);
        String line = err.toString().strip();
        assertTrue(line.startsWith("dma meta: internal error, a bug in dma") && !line.contains("\n"), line);
        Path trace = Path.of(line.substring(line.indexOf("its trace is in ") + "its trace is in ".length()));
        assertTrue(Files.readString(trace).contains("java.lang.NullPointerException: a field was null"));
        Files.delete(trace);
    }

    @Test
    void verbosePrintsTheTraceToo(@TempDir Path dir) {
        Outcome o = dma("eval", "--verbose", "--checkpoint", dir.resolve("missing.safetensors").toString(), "--inputs", inputs(dir).toString(),
                "--logits-out", dir.resolve("l.safetensors").toString());
        assertEquals(Main.BAD_INPUT, o.code(), o.err());
        assertTrue(o.err().contains("\tat "), o.err());
    }
}
