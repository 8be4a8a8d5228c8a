package dma.trainer.launch;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The local launcher (K parallel processes) against the sequential one, and a failed module's report and resubmission. */
class LocalLauncherTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(Runs.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    @Test
    void parallelProcessesGiveTheSameWeightsAsOneProcessAndAFailureSaysHowToRerunIt(@TempDir Path dir) throws Exception {
        Path data = Runs.smallFashionMnist(dir), cfg = Runs.config(dir, "run.json", data, "\"distdata\"");
        Path plain = Runs.config(dir, "plain.json", data, ""); // the same run without the DistData baseline
        Path seq = dir.resolve("sequential"), local = dir.resolve("local"), failing = dir.resolve("failing");

        // the same thread count per module (1) in one process and in two parallel processes on 2 threads
        Runs.Cli a = Runs.dma("pipeline", "--config", cfg.toString(), "--run-dir", seq.toString(), "--threads", "2", "--module-threads", "1");
        assertEquals(0, a.code(), a.err());
        Runs.Cli b = Runs.dma("pipeline", "--config", cfg.toString(), "--run-dir", local.toString(), "--threads", "2", "--launcher", "local");
        assertEquals(0, b.code(), b.err());
        for (String stage : new String[]{"assemble", "finetune", "assemble-distdata"})
            Runs.assertSameWeights(seq.resolve(stage).resolve("model.safetensors"), local.resolve(stage).resolve("model.safetensors"));
        // each DistData process read only its own shard
        for (int i = 0; i < 2; i++) {
            assertTrue(Files.readString(local.resolve("distdata-" + i).resolve("process.log")).contains("reading only its shard"),
                    Files.readString(local.resolve("distdata-" + i).resolve("process.log")));
            assertTrue(Files.isRegularFile(local.resolve("data").resolve("distdata-" + i + ".shard")));
        }

        // module 1 cannot write its directory: the pipeline fails (it does not hang) and status says why and how to rerun it
        Runs.copyStage(seq, failing, "meta");
        Files.writeString(failing.resolve("incubate-1"), "a file where the module's directory should be");
        Runs.Cli c = Runs.dma("pipeline", "--config", plain.toString(), "--run-dir", failing.toString(), "--threads", "2", "--launcher", "local");
        assertEquals(2, c.code(), c.err());
        assertTrue(c.err().contains("incubate-1 failed"), c.err());
        RunStatus.Report status = RunStatus.of(failing);
        assertEquals("done", status.stage("meta").state());
        assertEquals("done", status.stage("incubate-0").state());
        RunStatus.Row bad = status.stage("incubate-1");
        assertEquals("failed", bad.state(), RunStatus.render(status));
        assertTrue(bad.why().contains("FileAlreadyExistsException"), bad.why());
        assertTrue(Files.isRegularFile(Path.of(bad.log())), bad.log());
        assertNotNull(bad.resubmit());
        assertTrue(bad.resubmit().contains("incubate --module 1"), bad.resubmit());
        assertEquals("pending", status.stage("assemble").state());
        assertTrue(RunStatus.render(status).contains("resubmit: " + bad.resubmit()), RunStatus.render(status));

        // clear the fault, run the printed commands: the module alone, then the rest; the result is the same as before
        Files.delete(failing.resolve("incubate-1"));
        assertEquals(0, Runs.shell(bad.resubmit(), dir.resolve("resubmit.log"), 300), Files.readString(dir.resolve("resubmit.log")));
        assertEquals("done", RunStatus.of(failing).stage("incubate-1").state());
        assertEquals(0, Runs.shell(status.resume(), dir.resolve("resume.log"), 600), Files.readString(dir.resolve("resume.log")));
        Runs.assertSameWeights(seq.resolve("assemble").resolve("model.safetensors"), failing.resolve("assemble").resolve("model.safetensors"));
        assertTrue(RunStatus.of(failing).stages().stream().allMatch(r -> r.state().equals("done")), RunStatus.render(RunStatus.of(failing)));
    }
}
