package dma.trainer.stage;

import dma.trainer.cli.Main;
import dma.trainer.report.Summary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The engine learns: a small ViT (depth 2, width 64, patch 7) trained end to end for 5 epochs on a class-balanced
 * 20% of Fashion-MNIST (12 000 images, 2 threads, about a minute) reaches at least 80% on the whole test set.
 */
class AccuracyTest {
    @Test
    void smallVitReaches80PercentOnFashionMnist(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
        Path cfg = PipelineTest.config(dir, """
                {"seed": 0,
                 "data": {"kind": "fashion_mnist", "train_fraction": 0.2, "workers": 1},
                 "model": {"preset": "vit_fmnist_tiny", "patch_size": 7, "depth": 2, "embed_dim": 64, "num_heads": 2},
                 "modules": 2, "batch_size": 64, "base_lr": 3e-3, "scale_lr_by_batch": false,
                 "stages": {"e2e": {"epochs": 5, "warmup_epochs": 0.5, "drop_path": 0.0}},
                 "eval_limit": 2000, "checkpoint_every": 100000}
                """);
        assertEquals(0, Main.commandLine().execute("e2e", "--config", cfg.toString(), "--run-dir", dir.resolve("run").toString(), "--threads", "2"));
        Summary.StageResult r = new com.fasterxml.jackson.databind.ObjectMapper()
                .readValue(dir.resolve("run").resolve("e2e").resolve("result.json").toFile(), Summary.StageResult.class);
        assertTrue(r.accuracy() >= 0.80, "test accuracy " + r.accuracy());
    }
}
