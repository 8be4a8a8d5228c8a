package dma.trainer.stage;

import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import dma.models.convnext.ConvNeXtConfig;
import dma.trainer.cli.Main;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ConvNeXt through the trainer: presets and recipe defaults, the assembling pipeline (K = 4 stages), weight selection.
 * The runs use a tiny CIFAR-10-format data set written here (200 training and 60 test images of noise with a
 * class-dependent brightness), so that evaluating every stage on the whole test set costs nothing.
 */
class ConvNeXtStagesTest {
    /** Stages of 1/1/2/1 blocks at 8/16/24/32 channels on 32² images, patch 2: milliseconds a step. */
    static final String SMALL = "\"model\": {\"preset\": \"convnext_femto_cifar\", \"num_classes\": 10, \"depths\": [1, 1, 2, 1], "
            + "\"dims\": [8, 16, 24, 32]}";

    /** CIFAR-10 binary files: 5 training batches of 40 records and a test batch of 60 (label byte, then 3·32·32 pixels). */
    static Path tinyCifar(Path dir) throws Exception {
        Path d = Files.createDirectories(dir.resolve("cifar"));
        java.util.Random r = new java.util.Random(7);
        for (int b = 0; b <= 5; b++) {
            int records = b == 0 ? 60 : 40;
            byte[] bytes = new byte[records * 3073];
            for (int i = 0; i < records; i++) {
                int label = r.nextInt(10);
                bytes[i * 3073] = (byte) label;
                for (int j = 1; j < 3073; j++) bytes[i * 3073 + j] = (byte) Math.min(255, label * 20 + r.nextInt(60));
            }
            Files.write(d.resolve(b == 0 ? "test_batch.bin" : "data_batch_" + b + ".bin"), bytes);
        }
        return d;
    }

    private static String data(Path dir) throws Exception {
        return "\"data\": {\"kind\": \"cifar\", \"path\": \"" + tinyCifar(dir) + "\", \"workers\": 1}";
    }

    private static Plan plan(Path dir, String body) throws Exception {
        Path data = Files.createDirectories(dir.resolve("fmnist"));
        Path f = dir.resolve("run.json");
        Files.writeString(f, "{\"data\": {\"kind\": \"fashion_mnist\", \"path\": \"" + data + "\"}, " + body + "}");
        return new Plan(ConfigLoader.read(f), f.toString());
    }

    @Test
    void presetsAndTheWeightSelectionRecipe(@TempDir Path dir) throws Exception {
        Plan p = plan(dir, "\"model\": {\"preset\": \"convnext_femto_fmnist\"}, \"batch_size\": 64");
        assertEquals(ConvNeXtConfig.preset("convnext_femto_fmnist"), p.target);
        assertEquals("adamw", p.optimizer);
        assertArrayEquals(new int[]{2, 2, 6, 2}, p.partition.depths(), "K = 4 modules are the stages");
        Plan.Recipe e2e = p.recipe("e2e");
        assertEquals(4e-3, e2e.lr(), 1e-12, "lr 4e-3, not scaled by batch");
        assertEquals(0.05, e2e.weightDecay(), 1e-12);
        assertEquals(0.1, e2e.dropPath(), 1e-12);
        assertTrue(e2e.warmupEpochs() > 0, "warm-up, then cosine");
        assertEquals(0.0, p.recipe("meta").dropPath(), "the meta model trains without drop path (DESIGN §6.2)");
        Plan over = plan(dir, "\"model\": {\"preset\": \"convnext_tiny\", \"img_size\": 32, \"patch_size\": 2, \"num_classes\": 100}, "
                + "\"base_lr\": 1e-3");
        ConvNeXtConfig t = (ConvNeXtConfig) over.target;
        assertArrayEquals(new int[]{96, 192, 384, 768}, t.dims());
        assertEquals(32, t.imgSize());
        assertEquals(100, t.numClasses());
        assertEquals(1e-3, over.recipe("e2e").lr(), 1e-12);
        Plan family = plan(dir, "\"model\": {\"model\": \"convnext\", \"img_size\": 28, \"patch_size\": 1, \"in_chans\": 1, "
                + "\"num_classes\": 10, \"depths\": [1, 1, 1, 1], \"dims\": [4, 8, 8, 8]}");
        assertEquals(4, family.target.blocks());

        var k = assertThrows(IllegalArgumentException.class, () -> plan(dir, "\"model\": {\"preset\": \"convnext_femto_fmnist\"}, \"modules\": 3"));
        assertTrue(k.getMessage().contains("K must be 4"), k.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> plan(dir, "\"model\": {\"preset\": \"convnext_huge\"}"));
        assertTrue(unknown.getMessage().contains("convnext_huge") && unknown.getMessage().contains("convnext_femto"), unknown.getMessage());
        var small = assertThrows(IllegalArgumentException.class, () -> plan(dir, "\"model\": {\"preset\": \"convnext_femto_fmnist\", \"patch_size\": 4}"));
        assertTrue(small.getMessage().contains("model") && small.getMessage().contains("patch_size 4"), small.getMessage());
    }

    /** Model Assembling on ConvNeXt: meta (one block per stage), four incubations, assembly, fine-tuning, and E2E. */
    @Test
    void theAssemblingPipelineRunsOnConvNeXt(@TempDir Path dir) throws Exception {
        Path cfg = PipelineTest.config(dir, "{\"seed\": 1, " + data(dir) + ", "
                + SMALL + ", \"batch_size\": 32, \"stages\": {\"meta\": {\"epochs\": 1}, \"incubate\": {\"epochs\": 0.5}, "
                + "\"finetune\": {\"epochs\": 0.5}, \"e2e\": {\"epochs\": 1}}, \"baselines\": [\"e2e\"]}");
        Path run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        for (String stage : List.of("meta", "incubate-0", "incubate-1", "incubate-2", "incubate-3", "assemble", "finetune", "e2e"))
            assertTrue(Files.exists(run.resolve(stage).resolve("result.json")), stage + " finished");
        try (ImageClassifier m = Checkpoint.load(run.resolve("finetune").resolve("model.safetensors"), CpuBackend.get(), null).model()) {
            assertEquals(5, m.numBlocks());
        }
    }

    /** select-weights from a larger ConvNeXt checkpoint writes a loadable student that e2e --init starts from. */
    @Test
    void selectWeightsThenTrainFromTheSelection(@TempDir Path dir) throws Exception {
        ConvNeXtConfig teacherArch = new ConvNeXtConfig(32, 2, 3, 10, new int[]{2, 2, 3, 2}, new int[]{16, 32, 48, 64}, 0.1);
        Path teacher = dir.resolve("teacher.safetensors");
        try (ImageClassifier t = teacherArch.build(CpuBackend.get(), 5)) {
            Checkpoint.save(teacher, t, "e2e", 0, null);
        }
        Path cfg = PipelineTest.config(dir, "{\"seed\": 2, " + data(dir) + ", " + SMALL + ", \"batch_size\": 32, "
                + "\"stages\": {\"e2e\": {\"epochs\": 1}}}");
        Path run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("select-weights", "--config", cfg.toString(), "--run-dir", run.toString(),
                "--teacher", teacher.toString()));
        Path selected = run.resolve("select-weights").resolve("model.safetensors");
        try (var loaded = Checkpoint.load(selected, CpuBackend.get(), null).model();
             var t = Checkpoint.load(teacher, CpuBackend.get(), null).model()) {
            Map<String, Tensor> s = loaded.stateDict(), ts = t.stateDict();
            assertArrayEquals(new int[]{24, 1, 7, 7}, s.get("stages.2.blocks.1.conv_dw.weight").shape());
            float[] tv = ts.get("stages.2.blocks.1.gamma").toFloats(), sv = s.get("stages.2.blocks.1.gamma").toFloats();
            for (int i = 0; i < sv.length; i++) assertEquals(tv[2 * i], sv[i], 0f, "gamma channel " + i);
        }
        assertEquals(0, Main.commandLine().execute("e2e", "--config", cfg.toString(), "--run-dir", run.toString(), "--init", selected.toString()));
        assertTrue(Files.exists(run.resolve("e2e-init").resolve("result.json")));
        // a teacher of another family is refused, naming both
        Path vitCfg = PipelineTest.config(dir, "{" + data(dir) + ", \"model\": {\"img_size\": 32, \"patch_size\": 8, \"in_chans\": 3, "
                + "\"num_classes\": 10, \"depth\": 1, \"embed_dim\": 8, \"num_heads\": 2}, \"modules\": 1}");
        var cl = Main.commandLine();
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err, true));
        assertEquals(2, cl.execute("select-weights", "--config", vitCfg.toString(), "--run-dir", dir.resolve("vit").toString(),
                "--teacher", teacher.toString()));
        assertTrue(err.toString().contains("CONVNEXT") && err.toString().contains("VIT"), err.toString());
    }
}
