package dma.trainer.cli;

import dma.trainer.launch.RunStatus;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Where a run stands: every stage's state, progress and, for a failed one, why, its log and the command that reruns it. */
@Command(name = StatusCommand.NAME, mixinStandardHelpOptions = true,
        description = {"Each stage and module of a run with its state (pending, running, done, failed; cancelled when Slurm cancelled a job"
                + " whose dependency failed), its last logged step and accuracy, and for a failed one why, its log and the command that resubmits it.",
                "Works for every launcher; for a Slurm run it asks scontrol about the jobs."})
public final class StatusCommand implements Callable<Integer>, Subcommand {
    static final String NAME = "status";

    @Parameters(index = "0", paramLabel = "RUN_DIR", description = "The run directory (the pipeline's --run-dir).")
    Path runDir;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        RunStatus.Report r = RunStatus.of(runDir);
        System.out.print(json ? new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(r) + "\n" : RunStatus.render(r));
        return 0;
    }
}
