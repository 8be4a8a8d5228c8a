package dma.trainer.stage;

import dma.trainer.cli.Main;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * reuse_stages_from: a run whose config differs from a finished one's only in fine-tuning copies the meta model, the
 * modules, the assembly and E2E (same stage keys) and trains the fine-tuning alone; a changed learning rate reuses nothing.
 */
class StageReuseTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    static final String CONFIG = """
            {"seed": 2,
             "data": {"kind": "fashion_mnist", "train_fraction": 0.01, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "patch_size": 7, "depth": 4, "embed_dim": 8, "num_heads": 2},
             "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false, "threads": 2,
             "budget": {"e2e_epochs": 2},
             "baselines": ["e2e"], "checkpoint_every": 1000, "eval_limit": 200}
            """;

    private static Path run(Path dir, String name, String config) throws Exception {
        Path cfg = Files.writeString(dir.resolve(name + ".json"), config), run = dir.resolve("runs").resolve(name);
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString()));
        return run;
    }

    @Test
    void aRunDifferingOnlyInFineTuningTrainsOnlyTheFineTuning(@TempDir Path dir) throws Exception {
        Path first = run(dir, "first", CONFIG);
        String reuse = "\"reuse_stages_from\": [\"" + dir.resolve("runs") + "\"], ";
        Path shorter = run(dir, "shorter", CONFIG.replace("\"e2e_epochs\": 2", "\"e2e_epochs\": 2, \"finetune_share\": 0.1").replace("\"seed\": 2,", "\"seed\": 2, " + reuse));
        for (String stage : List.of("meta", "incubate-0", "incubate-1", "assemble", "e2e")) {
            Path a = first.resolve(stage), b = shorter.resolve(stage);
            assertFalse(Files.exists(b.resolve(Attempt.FILE)), stage + " was copied, not run");
            assertEquals(Files.readString(a.resolve(StageKey.FILE)), Files.readString(b.resolve(StageKey.FILE)), stage);
            assertEquals(Files.readString(a.resolve(ResultFile.NAME)), Files.readString(b.resolve(ResultFile.NAME)), stage);
            String output = stage.startsWith("incubate") ? "module.safetensors" : "model.safetensors";
            assertArrayEquals(Files.readAllBytes(a.resolve(output)), Files.readAllBytes(b.resolve(output)), stage);
        }
        assertTrue(Files.exists(shorter.resolve("finetune").resolve(Attempt.FILE)), "the fine-tuning trained");
        assertTrue(ResultFile.read(shorter.resolve("finetune")).images() < ResultFile.read(first.resolve("finetune")).images(), "and for fewer steps");

        // another K changes the modular stages' keys, not E2E's
        Path otherK = run(dir, "other-k", CONFIG.replace("\"modules\": 2", "\"modules\": 4").replace("\"seed\": 2,", "\"seed\": 2, " + reuse));
        assertTrue(Files.exists(otherK.resolve("meta").resolve(Attempt.FILE)), "meta trained");
        assertFalse(Files.exists(otherK.resolve("e2e").resolve(Attempt.FILE)), "e2e copied");

        // another learning rate changes every stage's key: nothing is reused
        Path otherLr = run(dir, "other-lr", CONFIG.replace("\"base_lr\": 2e-3", "\"base_lr\": 1e-3").replace("\"seed\": 2,", "\"seed\": 2, " + reuse));
        for (String stage : List.of("meta", "incubate-0", "incubate-1", "assemble", "finetune", "e2e"))
            assertTrue(Files.exists(otherLr.resolve(stage).resolve(Attempt.FILE)), stage + " trained");
    }
}
