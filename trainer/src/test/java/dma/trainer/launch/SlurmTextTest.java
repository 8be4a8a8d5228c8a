package dma.trainer.launch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Reading what Slurm prints, writing what sbatch takes, and finding the reason in a log: no cluster needed. */
class SlurmTextTest {
    @Test
    void arrayTaskIdsAsScontrolPrintsThem() {
        assertEquals(List.of(3), Slurm.taskIds("3"));
        assertEquals(List.of(0, 1, 2, 3), Slurm.taskIds("0-3"));
        assertEquals(List.of(1, 3, 5, 6), Slurm.taskIds("1,3,5-6"));
        assertEquals(List.of(0, 1, 2, 3), Slurm.taskIds("0-3%2"));
        assertEquals(List.of(0, 2, 4), Slurm.taskIds("0-4:2"));
        assertEquals(List.of(4, 5), Slurm.taskIds("[4-5]"));
    }

    @Test
    void fieldsOfAJobLine() {
        var f = Slurm.fields("JobId=14 ArrayJobId=13 ArrayTaskId=1 JobName=dma-incubate JobState=FAILED Reason=NonZeroExitCode"
                + " Dependency=(null) ExitCode=2:0 TRES=cpu=1,mem=24105M,node=1 AllocNode:Sid=localhost:3977");
        assertEquals("14", f.get("JobId"));
        assertEquals("13", f.get("ArrayJobId"));
        assertEquals("FAILED", f.get("JobState"));
        assertEquals("NonZeroExitCode", f.get("Reason"));
        assertEquals("2:0", f.get("ExitCode"));
        assertEquals("cpu=1,mem=24105M,node=1", f.get("TRES"));
    }

    @Test
    void arrayIndicesForSbatch() {
        assertEquals("0-3", SlurmLauncher.indices(List.of(0, 1, 2, 3)));
        assertEquals("1", SlurmLauncher.indices(List.of(1)));
        assertEquals("0,2,3", SlurmLauncher.indices(List.of(0, 2, 3)));
    }

    @Test
    void theReasonInALog(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("x.log");
        Files.writeString(log, "distdata-1: reading only its shard\nincubate-1   5% 1/18\ndma incubate: incubate-1: java.nio.file.FileAlreadyExistsException: /r/incubate-1\n");
        assertEquals("dma incubate: incubate-1: java.nio.file.FileAlreadyExistsException: /r/incubate-1", RunStatus.lastError(log));
        Files.writeString(log, "meta 10% 2/18\nException in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n\tat dma.Foo.bar(Foo.java:1)\n");
        assertEquals("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space", RunStatus.lastError(log));
        Files.writeString(log, "meta 10% 2/18\nslurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-11-27T03:00:00 DUE TO TIME LIMIT ***\n");
        assertEquals("slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-11-27T03:00:00 DUE TO TIME LIMIT ***", RunStatus.lastError(log));
        Files.writeString(log, "incubate-0   5% 1/18\nslurmstepd-vm: error: *** JOB 56 ON vm CANCELLED AT 2026-11-27T03:19:49 ***\nanother line\n");
        assertEquals("slurmstepd-vm: error: *** JOB 56 ON vm CANCELLED AT 2026-11-27T03:19:49 ***", RunStatus.lastError(log));
        assertEquals(null, RunStatus.lastError(dir.resolve("missing.log")));
    }

    @Test
    void shellQuoting() {
        assertEquals("sbatch --array=1 /r/slurm/incubate.sbatch", DmaCommand.shell(List.of("sbatch", "--array=1", "/r/slurm/incubate.sbatch")));
        assertEquals("echo 'a b' 'it'\\''s' ''", DmaCommand.shell(List.of("echo", "a b", "it's", "")));
    }
}
