package dma.trainer.study;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.trainer.cli.Main;
import dma.trainer.report.Summary;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A tiny study (two depths, two seeds): expansion, runs, skipping what is in the results folder, continuing a started run, the report. */
class StudyTest {
    static final Path FMNIST = Path.of("/usr/share/datasets/fashion-mnist");

    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    static final String BASE = """
            {"data": {"kind": "fashion_mnist", "train_fraction": 0.01, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "patch_size": 7, "depth": 2, "embed_dim": 16, "num_heads": 2},
             "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false,
             "stages": {"meta": {"epochs": 1}, "incubate": {"epochs": 1}, "finetune": {"epochs": 1}, "e2e": {"epochs": 2}},
             "checkpoint_every": 1000, "eval_limit": 200}
            """;

    private static Path study(Path dir, String axes) throws Exception {
        Files.writeString(dir.resolve("base.json"), BASE);
        Path f = dir.resolve("tiny.json");
        Files.writeString(f, """
                {"name": "tiny", "base": "base.json", "axes": %s, "runs": "%s", "results": "%s"}
                """.formatted(axes, dir.resolve("runs"), dir.resolve("results")));
        return f;
    }

    @Test
    void expandsRunsSkipsContinuesAndReports(@TempDir Path dir) throws Exception {
        Path f = study(dir, "{\"model.depth\": [2, 3], \"seed\": [0, 1]}");
        Study s = Study.read(f);
        List<Study.Cell> cells = s.cells();
        assertEquals(List.of("depth-2_seed-0", "depth-2_seed-1", "depth-3_seed-0", "depth-3_seed-1"), cells.stream().map(Study.Cell::name).toList());
        assertEquals(3, cells.get(2).config().path("model").path("depth").asInt());
        assertEquals(16, cells.get(2).config().path("model").path("embed_dim").asInt()); // the rest of the base is kept
        assertEquals(1, cells.get(3).config().path("seed").asInt());

        // a started cell: its meta model trained before the study runs; the study continues it instead of starting over
        Path started = dir.resolve("runs").resolve("depth-3_seed-1"), config = s.writeConfig(cells.get(3));
        assertEquals(0, Main.commandLine().execute("meta", "--config", config.toString(), "--run-dir", started.toString(), "--threads", "2"));
        byte[] metaResult = Files.readAllBytes(started.resolve("meta").resolve("result.json"));

        assertEquals(0, Main.commandLine().execute("study", f.toString(), "--threads", "2"));
        for (Study.Cell c : cells) assertTrue(StudyResults.done(s, c), c.name());
        assertTrue(Files.isRegularFile(dir.resolve("results").resolve("depth-2_seed-0").resolve("metrics").resolve("e2e.jsonl")));
        assertEquals(new String(metaResult), Files.readString(started.resolve("meta").resolve("result.json")), "meta was not trained again");

        // the report: each experiment and method over its two seeds
        String md = Files.readString(dir.resolve("results").resolve("STUDY.md"));
        assertTrue(md.contains("4 of 4 runs finished"), md);
        JsonNode rows = new ObjectMapper().readTree(dir.resolve("results").resolve("study.json").toFile());
        assertEquals(4, rows.size()); // 2 depths × {assembling, e2e}
        for (JsonNode r : rows) {
            assertEquals(2, r.path("accuracy").path("n").asInt(), r.toString());
            assertEquals(2, r.path("late_accuracy_gain").path("n").asInt(), r.toString()); // read from the copied metrics
            double sum = 0;
            for (JsonNode cell : r.path("cells"))
                sum += Summary.read(dir.resolve("results").resolve(cell.asText())).methods().stream()
                        .filter(m -> m.method().equals(r.path("method").asText())).findFirst().orElseThrow().accuracy();
            assertEquals(sum / 2, r.path("accuracy").path("mean").asDouble(), 1e-12);
        }
        assertTrue(md.contains("| 3 | e2e | 2 |"), md);
        // stage by stage: the modular method only, its meta model's accuracy the mean of the two runs' meta stages
        List<StudyResults.StageRow> stages = StudyResults.stageRows(StudyResults.read(s));
        assertEquals(List.of("assembling", "assembling"), stages.stream().map(StudyResults.StageRow::method).toList());
        StudyResults.StageRow depth3 = stages.get(1);
        double metaSum = 0;
        for (String cell : List.of("depth-3_seed-0", "depth-3_seed-1"))
            metaSum += Summary.read(dir.resolve("results").resolve(cell)).stages().stream().filter(r -> r.name().equals("meta")).findFirst().orElseThrow().accuracy();
        assertEquals(metaSum / 2, depth3.stats().get("meta").mean(), 1e-12);
        assertTrue(depth3.stats().get("wall_on_k_machines").mean() < depth3.stats().get("wall_sequential").mean(), depth3.toString());
        assertTrue(md.contains("## Stage by stage") && md.contains("| 3 | assembling | 2 |"), md);
        assertTrue(Files.size(dir.resolve("results").resolve("plots").resolve("accuracy_vs_depth.png")) > 1000);

        // what the results folder holds is not run again, even where the run directories are gone (another machine)
        deleteTree(dir.resolve("runs"));
        assertEquals(0, Main.commandLine().execute("study", f.toString(), "--threads", "2"));
        assertFalse(Files.exists(dir.resolve("runs")), "no cell ran again");
    }

    @Test
    void anAxisOfNamesGetsItsOwnCurvesAndColumns(@TempDir Path dir) throws Exception {
        Study s = Study.read(study(dir, "{\"init\": [\"random\", \"select-weights\"], \"model.depth\": [2, 3], \"seed\": [0, 1]}"));
        ObjectMapper json = new ObjectMapper();
        List<StudyResults.Row> rows = new java.util.ArrayList<>();
        for (String init : List.of("random", "select-weights"))
            for (int depth : List.of(3, 2)) {
                java.util.Map<String, JsonNode> experiment = new java.util.LinkedHashMap<>();
                experiment.put("init", json.getNodeFactory().textNode(init));
                experiment.put("model.depth", json.getNodeFactory().numberNode(depth));
                double acc = (init.equals("random") ? 0.80 : 0.82) + depth / 100.0;
                var st = StudyResults.Stats.of(List.of(acc - 0.001, acc + 0.001));
                var flops = StudyResults.Stats.of(List.of(depth * 1e12, depth * 1e12));
                rows.add(new StudyResults.Row(experiment, "e2e", st, st, st, flops, st, st, st, st, List.of()));
            }
        // the cost plot: a curve per init, along depth (its cost), in order of cost
        var curves = StudyReport.costCurves(s, rows);
        assertEquals(List.of("e2e, init random", "e2e, init select-weights"), List.copyOf(curves.keySet()));
        assertEquals(2e12, curves.get("e2e, init select-weights").get(0)[0]);
        assertEquals(84.0, curves.get("e2e, init select-weights").get(0)[1], 1e-9);
        // the plot by init: a column per init in the axis' order, a point per depth
        var columns = StudyReport.columns(s, rows, "init");
        assertEquals(List.of("random", "select-weights"), List.copyOf(columns.keySet()));
        assertEquals(List.of("e2e, depth 3", "e2e, depth 2"), List.copyOf(columns.get("random").keySet()));
        assertEquals(83.0, columns.get("random").get("e2e, depth 3")[0], 1e-9);
        assertEquals(100 * Math.sqrt(2e-6), columns.get("random").get("e2e, depth 3")[1], 1e-9);
        StudyReport.plots(s, rows);
        assertTrue(Files.size(dir.resolve("results").resolve("plots").resolve("accuracy_by_init.png")) > 1000);
        assertTrue(Files.size(dir.resolve("results").resolve("plots").resolve("accuracy_vs_depth.png")) > 1000);
    }

    @Test
    void aLinkedAxisSetsItsFieldsTogether(@TempDir Path dir) throws Exception {
        Study s = Study.read(study(dir, "{\"size\": {\"data.train_fraction\": [0.1, 0.25], \"stages.e2e.epochs\": [30, 12]}, \"seed\": [0]}"));
        List<Study.Cell> cells = s.cells();
        assertEquals(List.of("size-0.1_seed-0", "size-0.25_seed-0"), cells.stream().map(Study.Cell::name).toList());
        assertEquals(0.25, cells.get(1).config().path("data").path("train_fraction").asDouble());
        assertEquals(12, cells.get(1).config().path("stages").path("e2e").path("epochs").asInt());
        assertEquals(1, cells.get(1).config().path("stages").path("meta").path("epochs").asInt()); // the base's other recipes kept
    }

    @Test
    void aLinkedAxisWhoseFirstFieldRepeatsIsNamedByAllItsFields(@TempDir Path dir) throws Exception {
        Study s = Study.read(study(dir, "{\"ft\": {\"stages.finetune.epochs\": [1, 2, 2], \"stages.finetune.base_lr\": [0.002, 0.002, 0.001]}}"));
        assertEquals(List.of("ft-1+0.002", "ft-2+0.002", "ft-2+0.001"), s.cells().stream().map(Study.Cell::name).toList());
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Study.read(study(dir, "{\"model.depth\": [2, 2]}")));
        assertTrue(e.getMessage().contains("two cells would be named depth-2"), e.getMessage());
    }

    @Test
    void setFixesFieldsOfEveryCellBeforeTheAxes(@TempDir Path dir) throws Exception {
        Path f = study(dir, "{\"model.depth\": [2, 3]}");
        Files.writeString(f, Files.readString(f).replace("\"axes\":", "\"set\": {\"baselines\": [], \"model.depth\": 9, \"budget.meta_share\": 0.2}, \"axes\":"));
        List<Study.Cell> cells = Study.read(f).cells();
        assertEquals(List.of("depth-2", "depth-3"), cells.stream().map(Study.Cell::name).toList(), "set adds no axis");
        for (Study.Cell c : cells) {
            assertEquals(0, c.config().path("baselines").size());
            assertEquals(0.2, c.config().path("budget").path("meta_share").asDouble());
        }
        assertEquals(3, cells.get(1).config().path("model").path("depth").asInt(), "the axes win over set");
    }

    @Test
    void anE2eOnlySweepTrainsNoMetaModel(@TempDir Path dir) throws Exception {
        Path f = study(dir, "{\"assembling\": [false], \"base_lr\": [1e-3, 4e-3]}");
        assertEquals(0, Main.commandLine().execute("study", f.toString(), "--threads", "2"));
        for (String cell : List.of("assembling-false_base_lr-0.001", "assembling-false_base_lr-0.004")) {
            Summary sum = Summary.read(dir.resolve("results").resolve(cell));
            assertEquals(List.of("e2e"), sum.methods().stream().map(Summary.MethodResult::method).toList(), cell);
            assertFalse(Files.exists(dir.resolve("runs").resolve(cell).resolve("meta")), cell);
        }
    }

    private static void deleteTree(Path root) throws Exception {
        try (var paths = Files.walk(root)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
