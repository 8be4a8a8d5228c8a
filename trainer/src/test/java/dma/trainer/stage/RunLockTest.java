package dma.trainer.stage;

import dma.trainer.cli.Main;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** One writer per run directory: a second process on a stage another one is training stops, naming the holder; a killed holder's lock is gone. */
class RunLockTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    private static String dmaErr(int expected, String... args) {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        assertEquals(expected, cl.execute(args), err.toString());
        return err.toString();
    }

    @Test
    void aSecondWriterStopsNamingTheFirst(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, PipelineTest.TINY.replace("\"meta\": {\"epochs\": 1}", "\"meta\": {\"epochs\": 20}"));
        Path run = dir.resolve("run");
        Process first = PipelineTest.child(dir.resolve("first.log"), "meta", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "1");
        Path metrics = run.resolve("meta").resolve("metrics.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(metrics) && first.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(first.isAlive(), Files.readString(dir.resolve("first.log")));

        String[] same = {"--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "1"};
        String err = dmaErr(2, concat("meta", same));
        assertTrue(err.contains("stage meta of " + run + " is being written by another process (pid " + first.pid() + " on "), err);
        err = dmaErr(2, concat("pipeline", same)); // the pipeline gets its own lock, then stops at the stage the other process holds
        assertTrue(err.contains("(pid " + first.pid() + " on "), err);

        first.destroyForcibly().waitFor(); // SIGKILL: the operating system releases the lock
        first = PipelineTest.child(dir.resolve("second.log"), concat("meta", concat("--resume", same)));
        assertTrue(first.waitFor(300, TimeUnit.SECONDS) && first.exitValue() == 0, Files.readString(dir.resolve("second.log")));
        assertTrue(Files.exists(run.resolve("meta").resolve("result.json")));
    }

    private static String[] concat(String head, String... rest) {
        String[] a = new String[rest.length + 1];
        a[0] = head;
        System.arraycopy(rest, 0, a, 1, rest.length);
        return a;
    }
}
