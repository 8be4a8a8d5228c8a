package dma.trainer.stage;

import dma.trainer.cli.Main;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.report.Summary;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * "init": "select-weights": every method starts from weights selected from a trained teacher (DESIGN §6.6): the E2E
 * baseline in the pipeline and alone, the meta model and the modules of assembling.
 */
class SelectedInitTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    private static final String TEACHER = """
            {"seed": 4, "data": {"kind": "fashion_mnist", "train_fraction": 0.01, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "patch_size": 7, "depth": 2, "embed_dim": 16, "num_heads": 2},
             "modules": 1, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false, "threads": 2,
             "stages": {"e2e": {"epochs": 1}}, "assembling": false, "eval_limit": 200}
            """;

    @Test
    void e2eStartsFromTheTeachersSelectedWeights(@TempDir Path dir) throws Exception {
        Path teacherCfg = Files.writeString(dir.resolve("teacher.json"), TEACHER), teacherRun = dir.resolve("teacher");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", teacherCfg.toString(), "--run-dir", teacherRun.toString()));
        Path teacher = teacherRun.resolve("e2e").resolve("model.safetensors");

        String student = TEACHER.replace("\"depth\": 2, \"embed_dim\": 16", "\"depth\": 1, \"embed_dim\": 8")
                .replace("\"seed\": 4,", "\"seed\": 4, \"init\": \"select-weights\", \"teacher\": \"" + teacher + "\",");
        Path cfg = Files.writeString(dir.resolve("student.json"), student), run = dir.resolve("student");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString()));
        Summary s = Summary.read(run);
        assertEquals(List.of("select-weights", "e2e-init"), s.stages().stream().map(Summary.StageResult::name).toList());
        Summary.MethodResult e2e = s.methods().stream().filter(m -> m.method().equals("e2e")).findFirst().orElseThrow();
        assertEquals(List.of("e2e-init"), e2e.stages());
        assertTrue(e2e.totalFlops() > 0);
        assertEquals(0, Main.commandLine().execute("status", run.toString()));

        // the e2e command alone, on the same config, trains from the run's selected weights: the same bytes again
        byte[] trained = Files.readAllBytes(run.resolve("e2e-init").resolve("model.safetensors"));
        Files.delete(run.resolve("e2e-init").resolve("result.json"));
        assertEquals(0, Main.commandLine().execute("e2e", "--config", cfg.toString(), "--run-dir", run.toString()));
        assertArrayEquals(trained, Files.readAllBytes(run.resolve("e2e-init").resolve("model.safetensors")));

        Path noTeacher = Files.writeString(dir.resolve("no-teacher.json"), TEACHER.replace("\"seed\": 4,", "\"seed\": 4, \"init\": \"select-weights\","));
        var e = assertThrows(IllegalArgumentException.class, () -> new Plan(ConfigLoader.read(noTeacher), noTeacher.toString()));
        assertTrue(e.getMessage().contains("teacher") && e.getMessage().contains("select-weights"), e.getMessage());
    }

    /**
     * With a learning rate too small to move a weight, the meta model a run trains is the teacher's selection for the
     * meta model, and the assembled modules are its selection for the target (the heads, the student's own, aside).
     */
    @Test
    void assemblingStartsFromTheTeachersSelectedWeights(@TempDir Path dir) throws Exception {
        Path teacherCfg = Files.writeString(dir.resolve("teacher.json"), TEACHER.replace("\"depth\": 2", "\"depth\": 4")),
                teacherRun = dir.resolve("teacher");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", teacherCfg.toString(), "--run-dir", teacherRun.toString()));
        Path teacher = teacherRun.resolve("e2e").resolve("model.safetensors");

        String student = TEACHER.replace("\"depth\": 2, \"embed_dim\": 16", "\"depth\": 3, \"embed_dim\": 8")
                .replace("\"modules\": 1,", "\"modules\": 2, \"init\": \"select-weights\", \"teacher\": \"" + teacher + "\",")
                .replace("\"base_lr\": 2e-3,", "\"base_lr\": 1e-30, \"min_lr\": 1e-30, \"warmup_lr\": 1e-30,")
                .replace("\"stages\": {\"e2e\": {\"epochs\": 1}}, \"assembling\": false,",
                        "\"stages\": {\"meta\": {\"epochs\": 0.1}, \"incubate\": {\"epochs\": 0.1}, \"finetune\": {\"epochs\": 0.1}}, \"baselines\": [],");
        Path cfg = Files.writeString(dir.resolve("student.json"), student), run = dir.resolve("student");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString()));

        Plan plan = new Plan(ConfigLoader.read(cfg), cfg.toString());
        var be = dma.engine.cpu.CpuBackend.get();
        try (var t = dma.models.Checkpoint.load(teacher, be, null).model()) {
            expectSelected(t, plan.partition.meta(), run.resolve("meta").resolve("model.safetensors"));
            expectSelected(t, plan.target, run.resolve("assemble").resolve("model.safetensors"));
        }
    }

    private static void expectSelected(dma.models.ImageClassifier teacher, dma.models.Architecture arch, Path trained) {
        var be = dma.engine.cpu.CpuBackend.get();
        var state = dma.engine.io.TensorFiles.load(trained, be);
        try (var student = arch.build(be, 99)) {
            var selected = dma.models.select.WeightSelection.select(teacher.stateDict(), student.stateDict());
            assertEquals(selected.keySet(), state.keySet());
            selected.forEach((key, want) -> {
                if (!key.startsWith("head.")) assertArrayEquals(want.toFloats(), state.get(key).toFloats(), 1e-6f, trained + ": " + key);
            });
            selected.values().forEach(dma.engine.Tensor::close);
        } finally {
            state.values().forEach(dma.engine.Tensor::close);
        }
    }
}
