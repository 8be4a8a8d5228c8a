package dma.trainer.stage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Budget mode: every method's stages sized to cost what E2E costs, in training FLOPs as the summary counts them. */
class BudgetTest {
    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    /** 3 000 training images at batch 32: 93 steps an epoch, so rounding stages to whole steps stays well inside 1%. */
    static final String BUDGET = """
            {"seed": 5,
             "data": {"kind": "fashion_mnist", "train_fraction": 0.05, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "patch_size": 7, "depth": 3, "embed_dim": 16, "num_heads": 2},
             "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false,
             "budget": {"e2e_epochs": 4},
             "baselines": ["e2e", "imitate", "distdata"],
             "checkpoint_every": 1000, "eval_limit": 200}
            """;

    @Test
    void everyMethodCostsWhatE2eCostsWithinOnePercent(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, BUDGET), run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        Summary s = Summary.read(run);
        long e2e = s.methods().stream().filter(m -> m.method().equals("e2e")).findFirst().orElseThrow().totalFlops();
        assertEquals(4, s.methods().size());
        for (Summary.MethodResult m : s.methods())
            assertEquals(1.0, (double) m.totalFlops() / e2e, 0.01, m.method() + " costs " + m.totalFlops() + ", E2E " + e2e);

        // resolved.json: the derived epochs, and each method's predicted cost, which the summary's counts bear out
        JsonNode resolved = new ObjectMapper().readTree(run.resolve("resolved.json").toFile());
        Plan plan = new Plan(ConfigLoader.read(cfg), cfg.toString());
        Costs c = plan.costs();
        assertEquals(4 * 0.25 * c.target() / c.meta(), resolved.path("stages").path("meta").path("epochs").asDouble(), 1e-9);
        assertEquals(1.0, resolved.path("stages").path("finetune").path("epochs").asDouble(), 1e-12);
        int trainImages = 3000;
        for (Summary.MethodResult m : s.methods()) {
            double predicted = resolved.path("costs").path("method_flops_per_training_image").path(m.method()).asDouble() * trainImages;
            assertEquals(1.0, m.totalFlops() / predicted, 0.01, m.method());
            assertEquals(1.0, resolved.path("costs").path("method_cost_relative_to_e2e").path(m.method()).asDouble(), 1e-9, m.method());
        }
        // the report says what was measured on what
        String md = Files.readString(run.resolve("summary.md"));
        assertTrue(md.contains("whole test set (10,000 images)") && md.contains("| train loss |"), md);
        for (Summary.StageResult r : s.stages()) // a DistData module trains on its half of the 3 000 images
            if (r.images() > 0) assertTrue(r.trainLoss() != null && r.trainLoss() > 0 && r.trainAccuracy() != null
                    && r.trainSample() == (r.name().startsWith("distdata") ? 1500 : 3000), r.toString());
    }

    @Test
    void budgetAndHandSetEpochsOfTheSameStageAreAnError(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, BUDGET.replace("\"budget\":", "\"stages\": {\"meta\": {\"epochs\": 2}}, \"budget\":"));
        var e = assertThrows(IllegalArgumentException.class, () -> new Plan(ConfigLoader.read(cfg), cfg.toString()));
        assertTrue(e.getMessage().contains("'stages.meta.epochs' is set by the budget"), e.getMessage());
        Path zero = PipelineTest.config(dir, BUDGET.replace("\"e2e_epochs\": 4", "\"e2e_epochs\": 4, \"finetune_share\": 0"));
        e = assertThrows(IllegalArgumentException.class, () -> new Plan(ConfigLoader.read(zero), zero.toString()));
        assertTrue(e.getMessage().contains("budget.finetune_share") && e.getMessage().contains("must be in (0, 1]"), e.getMessage());
    }

    /** Shares that do not add up to 1 make a module method cost that fraction of E2E (a short fine-tuning, say). */
    @Test
    void sharesAddUpToTheMethodsCostAgainstE2e(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, BUDGET.replace("\"e2e_epochs\": 4", "\"e2e_epochs\": 4, \"finetune_share\": 0.05"));
        Plan plan = new Plan(ConfigLoader.read(cfg), cfg.toString());
        assertEquals(4 * 0.05, plan.recipe("finetune").epochs(), 1e-12);
        Costs c = plan.costs();
        Map<String, Double> perImage = c.perTrainingImage(id -> plan.recipe(id).epochs(), plan.moduleMethods, true);
        for (String method : List.of("assembling", "imitation", "distdata"))
            assertEquals(0.8, perImage.get(method) / perImage.get("e2e"), 1e-9, method);
    }
}
