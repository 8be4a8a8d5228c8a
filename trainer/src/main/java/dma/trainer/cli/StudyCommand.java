package dma.trainer.cli;

import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.report.Summary;
import dma.trainer.stage.RunArgs;
import dma.trainer.stage.StageId;
import dma.trainer.study.Study;
import dma.trainer.study.StudyReport;
import dma.trainer.study.StudyResults;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Many runs from one file: a base config and axes, each cell an ordinary pipeline run, the finished ones kept in a results folder. */
@Command(name = "study", mixinStandardHelpOptions = true,
        description = {"Run a study: a base config and axes (model.depth, data.train_fraction, budget.e2e_epochs, seed, …) expanded into one"
                + " pipeline run per cell, each in its own run directory, with any launcher. A cell whose summary is in the study's results"
                + " folder is skipped; an unfinished one continues from its checkpoints. Ends with the report: mean ± spread over seeds"
                + " per experiment and method (STUDY.md, study.json) and plots.",
                "The results folder holds only small files (summaries, resolved configs, metrics): commit it, and the study continues on"
                        + " any machine."})
public final class StudyCommand implements Callable<Integer>, Subcommand {
    @Parameters(index = "0", paramLabel = "STUDY.json", description = "The study file.")
    Path file;

    @Option(names = "--report", description = "Only write the report of the runs that have finished.")
    boolean reportOnly;

    @Option(names = "--list", description = "List the cells and where each stands (done, started, pending); run nothing.")
    boolean list;

    @Option(names = "--cell", paramLabel = "NAME", description = "Run only this cell (repeatable); the report still covers every finished cell.")
    List<String> only;

    @Option(names = PipelineCommand.LAUNCHER, paramLabel = "sequential|local|slurm", description = "How each run's module stages run (default: the config's).")
    String launcher;

    @Option(names = RunArgs.THREADS, description = "CPU threads of each run (default: the config's, else all cores).")
    Integer threads;

    @Option(names = PipelineCommand.MODULE_THREADS, paramLabel = "N", description = "Threads of each module stage (see dma pipeline --help).")
    Integer moduleThreads;

    @Option(names = RunArgs.BACKEND, description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend = "cpu";

    @Option(names = "--pipeline-option", paramLabel = "OPT", description = "Another option for every run's dma pipeline, e.g. --pipeline-option=--partition=cpu (repeatable).")
    List<String> pipelineOptions;

    @Override
    public Integer call() throws Exception {
        Study study = Study.read(file);
        List<Study.Cell> cells = study.cells();
        if (only != null)
            for (String name : only)
                if (cells.stream().noneMatch(c -> c.name().equals(name)))
                    throw new IllegalArgumentException("--cell " + name + ": " + file + " has no such cell; dma study --list " + file + " lists them");
        List<Study.Cell> todo = cells.stream().filter(c -> !StudyResults.done(study, c) && (only == null || only.contains(c.name()))).toList();
        // every cell still to run is checked first, so that a typo in the last cell does not wait for hours; --list
        // lists every cell, those that cannot start yet (e.g. a teacher another study has still to train) with why, then fails
        Map<String, IllegalArgumentException> invalid = new LinkedHashMap<>();
        if (!reportOnly)
            for (Study.Cell c : todo) {
                String origin = file + " (cell " + c.name() + ")";
                try {
                    new Plan(ConfigLoader.parse(origin, c.config().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)), origin);
                } catch (IllegalArgumentException e) {
                    if (!list) throw e;
                    invalid.put(c.name(), e);
                }
            }
        if (list) {
            for (Study.Cell c : cells) {
                String state = StudyResults.done(study, c) ? "done" : Files.isDirectory(study.runs().resolve(c.name())) ? "started" : "pending";
                IllegalArgumentException e = invalid.get(c.name());
                String why = e == null ? "" : e.getMessage().replace(file + " (cell " + c.name() + "): ", "");
                System.out.printf("%-8s %s%s%n", state, c.name(), e == null ? "" : " (cannot start: " + why + ")");
            }
            if (!invalid.isEmpty()) throw invalid.values().iterator().next();
            return 0;
        }
        if (!reportOnly) {
            List<Path> configs = new ArrayList<>();
            for (Study.Cell c : todo) configs.add(study.writeConfig(c));
            System.out.printf("study %s: %d cells, %d done, %d to run; results in %s%n", study.name(), cells.size(), cells.size() - todo.size(),
                    todo.size(), study.results());
            List<String> failed = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < todo.size(); i++) {
                Study.Cell c = todo.get(i);
                Path runDir = study.runs().resolve(c.name());
                double elapsed = (System.nanoTime() - t0) / 1e9;
                System.out.printf(Locale.ROOT, "%nstudy %s: cell %d of %d: %s (run directory %s)%s%n", study.name(), i + 1, todo.size(), c.name(), runDir,
                        i == 0 ? "" : ", about " + Summary.clock(elapsed / i * (todo.size() - i)) + " left");
                int code = Main.commandLine().execute(pipelineArgs(configs.get(i), runDir).toArray(String[]::new));
                if (code == 0) StudyResults.collect(study, c, runDir);
                else failed.add(c.name() + " (exit " + code + "; dma status " + runDir + ")");
            }
            if (!failed.isEmpty()) {
                StudyReport.write(study, true);
                throw new IllegalStateException("cells failed: " + String.join(", ", failed) + "; run the study again to retry them");
            }
        }
        System.out.println();
        System.out.print(StudyReport.write(study, true));
        System.out.printf("%nreport: %s, %s, plots in %s%n", study.results().resolve("STUDY.md"), study.results().resolve("study.json"),
                study.results().resolve("plots"));
        return 0;
    }

    private List<String> pipelineArgs(Path config, Path runDir) {
        List<String> a = new ArrayList<>(List.of(StageId.PIPELINE_COMMAND));
        a.addAll(new RunArgs(config, runDir, backend, threads, true).argv());
        if (launcher != null) a.addAll(List.of(PipelineCommand.LAUNCHER, launcher));
        if (moduleThreads != null) a.addAll(List.of(PipelineCommand.MODULE_THREADS, moduleThreads.toString()));
        if (pipelineOptions != null) a.addAll(pipelineOptions);
        return a;
    }
}
