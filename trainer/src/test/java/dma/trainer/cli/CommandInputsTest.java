package dma.trainer.cli;

import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command fed malformed input: a config that is not JSON or has a bad field, a stage whose inputs are missing, a
 * teacher that is not a checkpoint, a run directory or study file in a bad state. Each ends with one line
 * {@code dma <command>: <file or field>: <what is wrong>}, exit code 2, no stack trace, and writes no output file.
 */
class CommandInputsTest {
    @org.junit.jupiter.api.BeforeAll
    static void needData() {
        // the configs name Fashion-MNIST, whose folder a plan checks first
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("/usr/share/datasets/fashion-mnist")),
                "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    private static final List<String> STAGES = List.of("meta", "incubate", "imitate", "distdata", "assemble", "finetune", "e2e");

    /** Runs a command; checks the one line, the exit code, the absence of a trace and that {@code runDir} gained no output. */
    private static String fails(Path runDir, String expected, String... args) throws IOException {
        List<Path> before = files(runDir);
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        List<String> lines = Arrays.stream(err.toString().split("\n")).filter(l -> !l.isBlank() && !l.startsWith("WARNING")).toList();
        String what = String.join(" ", args) + "\n" + err;
        assertEquals(Main.BAD_INPUT, code, what);
        assertEquals(1, lines.size(), what);
        assertTrue(lines.get(0).startsWith("dma " + args[0] + ": ") && lines.get(0).contains(expected), "expected '" + expected + "' in: " + what);
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + what);
        List<Path> outputs = files(runDir).stream().filter(p -> !before.contains(p))
                .filter(p -> p.toString().endsWith(".safetensors") || p.getFileName().toString().equals("result.json")
                        || p.getFileName().toString().startsWith("summary")).toList();
        assertEquals(List.of(), outputs, "no output written: " + what);
        return lines.get(0);
    }

    private static List<Path> files(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    private static List<String> stageArgs(String stage, Path config, Path run, String... more) {
        List<String> a = new ArrayList<>(List.of(stage, "--config", config.toString(), "--run-dir", run.toString()));
        a.addAll(List.of(more));
        return a;
    }

    private static final String GOOD = """
            {"seed": 1, "data": {"kind": "fashion_mnist", "train_fraction": 0.01},
             "model": {"preset": "vit_fmnist_tiny", "depth": 2, "embed_dim": 16, "num_heads": 2}, "modules": 2,
             "stages": {"meta": {"epochs": 1}, "incubate": {"epochs": 1}, "finetune": {"epochs": 1}, "e2e": {"epochs": 1}},
             "baselines": ["e2e", "imitate", "distdata"]}
            """;

    @Test
    void aConfigThatIsNotJsonOrHasABadFieldStopsEveryCommandBeforeItWrites(@TempDir Path dir) throws Exception {
        Path notJson = Files.writeString(dir.resolve("broken.json"), "{\"seed\": 1, \"model\": {\"depth\": ");
        Path badField = Files.writeString(dir.resolve("bad-field.json"), GOOD.replace("\"modules\": 2", "\"modules\": 0"));
        Path misspelt = Files.writeString(dir.resolve("misspelt.json"), GOOD.replace("\"depth\": 2", "\"depht\": 2"));
        Path run = dir.resolve("run");
        List<String> commands = new ArrayList<>(STAGES);
        commands.add("pipeline");
        commands.add("select-weights");
        for (String command : commands) {
            String[] extra = command.equals("select-weights") ? new String[]{"--teacher", dir.resolve("t.safetensors").toString()} : new String[0];
            fails(run, "broken.json", stageArgs(command, notJson, run, extra).toArray(String[]::new));
            fails(run, "modules", stageArgs(command, badField, run, extra).toArray(String[]::new));
            fails(run, "depht", stageArgs(command, misspelt, run, extra).toArray(String[]::new));
        }
        assertFalse(Files.exists(run.resolve("config.json")), "the pipeline wrote no run files");
    }

    @Test
    void aStageWhoseInputsAreMissingNamesTheMissingFile(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("run.json"), GOOD), run = dir.resolve("run");
        for (String stage : List.of("incubate", "imitate", "distdata")) fails(run, "meta", stageArgs(stage, config, run).toArray(String[]::new));
        fails(run, "incubate-0", stageArgs("assemble", config, run).toArray(String[]::new));
        fails(run, "assemble", stageArgs("finetune", config, run).toArray(String[]::new));
        fails(run, "--module", stageArgs("incubate", config, run, "--module", "7").toArray(String[]::new));
    }

    @Test
    void aTeacherThatIsNotACheckpointIsNamed(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("run.json"), GOOD), run = dir.resolve("run");
        Path missing = dir.resolve("missing.safetensors");
        fails(run, missing.toString(), stageArgs("select-weights", config, run, "--teacher", missing.toString()).toArray(String[]::new));
        Path truncated = Files.write(dir.resolve("truncated.safetensors"), new byte[]{8, 0, 0, 0, 0, 0, 0, 0, '{'});
        fails(run, truncated.toString(), stageArgs("select-weights", config, run, "--teacher", truncated.toString()).toArray(String[]::new));
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("conv1.weight", new HostTensor("F32", new long[]{2, 1, 3, 3}, new byte[4 * 18]));
        Path other = dir.resolve("other.safetensors");
        Safetensors.write(other, t, null);
        fails(run, other.toString(), stageArgs("select-weights", config, run, "--teacher", other.toString()).toArray(String[]::new));
    }

    @Test
    void statusOfADirectoryThatIsNotARunOrIsDamagedIsOneLine(@TempDir Path dir) throws Exception {
        fails(dir, "nowhere", "status", dir.resolve("nowhere").toString());
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.writeString(run.resolve("config.json"), "{not json");
        fails(dir, "config.json", "status", run.toString());
        Files.writeString(run.resolve("config.json"), GOOD);
        Files.writeString(run.resolve("launch.json"), "{\"launcher\": 7, ");
        fails(dir, "launch.json", "status", run.toString());
    }

    @Test
    void aStudyFileThatIsNotJsonOrNamesAnUnknownFieldIsOneLine(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("base.json"), GOOD);
        Path broken = Files.writeString(dir.resolve("broken-study.json"), "{\"name\": \"s\", \"axes\": ");
        fails(dir, "broken-study.json", "study", broken.toString());
        Path unknownAxis = Files.writeString(dir.resolve("axis-study.json"), "{\"name\": \"s\", \"base\": \"base.json\", \"axes\": {\"model.dpeth\": [2, 3]}}");
        fails(dir, "dpeth", "study", unknownAxis.toString(), "--list");
        Path noBase = Files.writeString(dir.resolve("nobase-study.json"), "{\"name\": \"s\", \"base\": \"gone.json\", \"axes\": {\"seed\": [0]}}");
        fails(dir, "gone.json", "study", noBase.toString(), "--list");
    }

    /** --list shows every cell, one that cannot start yet with why (a teacher still to be trained), then fails naming it. */
    @Test
    void listingAStudyWhoseTeacherIsMissingShowsEveryCellAndWhy(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("base.json"), GOOD);
        String teacher = dir.resolve("teacher.safetensors").toString();
        Path study = Files.writeString(dir.resolve("ws-study.json"), "{\"name\": \"ws\", \"base\": \"base.json\", \"set\": {\"teacher\": \""
                + teacher + "\"}, \"axes\": {\"init\": [\"random\", \"select-weights\"]}}");
        var out = new java.io.ByteArrayOutputStream();
        var stdout = System.out;
        System.setOut(new java.io.PrintStream(out, true));
        try {
            fails(dir, "teacher", "study", study.toString(), "--list");
        } finally {
            System.setOut(stdout);
        }
        List<String> lines = out.toString().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(2, lines.size(), out.toString());
        assertEquals("pending  init-random", lines.get(0));
        assertTrue(lines.get(1).startsWith("pending  init-select-weights (cannot start: ") && lines.get(1).contains(teacher + " does not exist"), lines.get(1));
    }
}
