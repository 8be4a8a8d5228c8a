package dma.trainer.launch;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The pipeline on a real Slurm cluster: CI starts a one-node cluster with scripts/slurm-cluster.sh and exports
 * DMA_SLURM_CLUSTER=up (and SLURM_CONF). The run must give the local launcher's weights bit for bit; a failing array
 * task must cancel what depends on it, and status must name it with the command that resubmits it.
 */
class SlurmPipelineTest {
    /** Skips, saying why on stderr and in the report, unless the test's cluster is up. */
    @BeforeEach
    void needCluster() {
        String why = null, cluster = System.getenv("DMA_SLURM_CLUSTER");
        if (!Slurm.available())
            why = "sbatch/scontrol not on the PATH: install slurm-wlm and start a cluster with eval \"$(scripts/slurm-cluster.sh start)\"";
        else if (!"up".equals(cluster))
            why = cluster == null ? "DMA_SLURM_CLUSTER is not set: this test submits jobs only to the one-node cluster of scripts/slurm-cluster.sh"
                    + " (eval \"$(scripts/slurm-cluster.sh start)\" sets it; .ci/run does that)" : "no Slurm cluster for this test: " + cluster;
        else if (!Files.isDirectory(Runs.FMNIST)) why = "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
        if (why != null) System.err.println("SlurmPipelineTest skipped: " + why);
        assumeTrue(why == null, why);
    }

    @Test
    void slurmRunsThePipelineAsJobsAndAFailedTaskCancelsItsDependents(@TempDir Path dir) throws Exception {
        Path data = Runs.smallFashionMnist(dir), cfg = Runs.config(dir, "run.json", data, "");
        Path local = dir.resolve("local"), slurm = dir.resolve("slurm"), failing = dir.resolve("failing");
        long t0 = System.nanoTime();
        Runs.Cli a = Runs.dma("pipeline", "--config", cfg.toString(), "--run-dir", local.toString(), "--threads", "2", "--launcher", "local");
        assertEquals(0, a.code(), a.err());
        long t1 = System.nanoTime();

        // meta job, array job of 2 one-CPU tasks, assemble + finetune job, report job; the same threads per stage as locally
        Runs.Cli b = Runs.dma("pipeline", "--config", cfg.toString(), "--run-dir", slurm.toString(), "--threads", "2", "--module-threads", "1",
                "--launcher", "slurm", "--poll", "0.5");
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().contains("| assembling |"), b.out());
        for (String stage : List.of("meta", "assemble", "finetune"))
            Runs.assertSameWeights(local.resolve(stage).resolve("model.safetensors"), slurm.resolve(stage).resolve("model.safetensors"));
        for (String script : List.of("meta", "incubate", "finetune", "report"))
            assertTrue(Files.isRegularFile(slurm.resolve("slurm").resolve(script + ".sbatch")), script);
        String incubate = Files.readString(slurm.resolve("slurm").resolve("incubate.sbatch"));
        assertTrue(incubate.contains("--module \"$SLURM_ARRAY_TASK_ID\""));
        assertTrue(incubate.contains(String.join(" ", DmaCommand.JVM_FLAGS)), "the jobs' java takes dma's JVM flags:\n" + incubate);
        RunStatus.Report done = RunStatus.of(slurm);
        assertTrue(done.stages().stream().allMatch(r -> r.state().equals("done")), RunStatus.render(done));
        assertTrue(done.stage("incubate-1").job().matches("\\d+_1"), RunStatus.render(done));
        long t2 = System.nanoTime();

        // task 1 cannot write its module directory: it fails, Slurm cancels assemble/finetune and the report, the pipeline returns
        Runs.copyStage(slurm, failing, "meta");
        Files.writeString(failing.resolve("incubate-1"), "a file where the module's directory should be");
        Runs.Cli c = Runs.dma("pipeline", "--config", cfg.toString(), "--run-dir", failing.toString(), "--threads", "2", "--module-threads", "1",
                "--launcher", "slurm", "--poll", "0.5");
        assertEquals(2, c.code(), c.out() + c.err());
        assertTrue(c.err().contains("failed: incubate-1"), c.err());
        LaunchRecord launch = LaunchRecord.read(failing);
        assertTrue(!launch.stages().containsKey("meta"), "the finished meta stage was not submitted again");
        Map<String, Slurm.Job> finetune = Slurm.show(launch.stages().get("finetune").job());
        assertEquals("CANCELLED", finetune.values().iterator().next().state(), finetune.toString());
        assertEquals("DependencyNeverSatisfied", finetune.values().iterator().next().reason(), finetune.toString());
        RunStatus.Report status = RunStatus.of(failing);
        String text = RunStatus.render(status);
        assertEquals("done", status.stage("incubate-0").state(), text);
        RunStatus.Row bad = status.stage("incubate-1");
        assertEquals("failed", bad.state(), text);
        assertTrue(bad.why().contains("FAILED") && bad.why().contains("FileAlreadyExistsException"), bad.why());
        assertEquals(failing.resolve("slurm").resolve("incubate-1.log").toString(), bad.log());
        assertEquals("sbatch --array=1 " + failing.resolve("slurm").resolve("incubate.sbatch"), bad.resubmit());
        for (String s : List.of("assemble", "finetune", "report")) assertEquals("cancelled", status.stage(s).state(), text);
        assertTrue(text.contains("resubmit: sbatch --array=1 ") && text.contains(status.resume()), text);
        long t3 = System.nanoTime();

        // clear the fault and run the printed command: only module 1, assembly and the report run; the weights are the local run's
        Files.delete(failing.resolve("incubate-1"));
        assertEquals(0, Runs.shell(status.resume(), dir.resolve("resume.log"), 600), Files.readString(dir.resolve("resume.log")));
        Runs.assertSameWeights(local.resolve("assemble").resolve("model.safetensors"), failing.resolve("assemble").resolve("model.safetensors"));
        RunStatus.Report after = RunStatus.of(failing);
        assertTrue(after.stages().stream().allMatch(r -> r.state().equals("done")), RunStatus.render(after));
        assertEquals(status.stage("incubate-0").job(), after.stage("incubate-0").job(), "the finished module was not submitted again");
        System.err.printf("slurm test: local run %.0f s, slurm run %.0f s, failing run %.0f s, resubmission %.0f s%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (System.nanoTime() - t3) / 1e9);
    }
}
