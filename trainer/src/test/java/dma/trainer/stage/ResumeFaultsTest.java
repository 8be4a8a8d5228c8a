package dma.trainer.stage;

import dma.trainer.cli.Main;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A damaged training checkpoint found at resumption is named, with what to do, and never trained on. */
class ResumeFaultsTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    @Test
    void aDamagedStateIsNamedAndLeftAlone(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, PipelineTest.TINY), run = dir.resolve("run");
        Path state = Files.createDirectories(run.resolve("meta")).resolve("state.safetensors");
        byte[] damaged = {42, 0, 0, 0, 0, 0, 0, 0, '{', '"'}; // a header that claims 42 bytes and ends after 2
        Files.write(state, damaged);
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        assertEquals(Main.BAD_INPUT, cl.execute("meta", "--config", cfg.toString(), "--run-dir", run.toString(), "--resume"));
        String line = err.toString().strip();
        assertTrue(line.startsWith("dma meta: ") && line.contains(state + " cannot be resumed from") && line.contains("delete it"), line);
        assertFalse(line.contains("\tat "), line);
        assertArrayEquals(damaged, Files.readAllBytes(state), "left as it was");
        assertFalse(Files.exists(run.resolve("meta").resolve("result.json")));
        // deleting it, as the message says, trains the stage from its start
        Files.delete(state);
        assertEquals(0, Main.commandLine().execute("meta", "--config", cfg.toString(), "--run-dir", run.toString(), "--resume"));
    }
}
