package dma.trainer.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every bad config names the field (and the file) in its error. */
class ConfigErrorsTest {
    @TempDir
    Path dir;

    private Path write(String json) throws Exception {
        Path f = dir.resolve("run.json");
        Files.writeString(f, json);
        return f;
    }

    /** A data directory that exists (the loader is not reached by these checks). */
    private String data() throws Exception {
        return "\"data\": {\"kind\": \"fashion_mnist\", \"path\": \"" + Files.createDirectories(dir.resolve("fmnist")) + "\"}";
    }

    private String error(String json) throws Exception {
        Path f = write(json);
        var e = assertThrows(IllegalArgumentException.class, () -> new Plan(ConfigLoader.read(f), f.toString()));
        assertTrue(e.getMessage().startsWith(f.toString()), "names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void unknownFieldIsNamedWithItsPath() throws Exception {
        String m = error("{" + data() + ", \"stages\": {\"meta\": {\"epochz\": 3}}}");
        assertTrue(m.contains("unknown field 'stages.meta.epochz'") && m.contains("epochs"), m);
        assertTrue(error("{\"bach_size\": 3}").contains("unknown field 'bach_size'"));
        // the model section too, with or without a preset
        String model = error("{" + data() + ", \"model\": {\"preset\": \"vit_fmnist_tiny\", \"depht\": 16}}");
        assertTrue(model.contains("field 'model.depht' is not a field of vit models") && model.contains("depth"), model);
        model = error("{" + data() + ", \"model\": {\"model\": \"cifar_resnet\", \"depth\": 20, \"num_classes\": 10, \"widht\": 8}}");
        assertTrue(model.contains("field 'model.widht' is not a field of cifar_resnet models"), model);
    }

    @Test
    void precisionIsFp32OrBf16() throws Exception {
        String m = error("{" + data() + ", \"precision\": \"fp16\"}");
        assertTrue(m.contains("field 'precision'") && m.contains("fp32, bf16"), m);
        Path f = write("{" + data() + ", \"precision\": \"bf16\"}");
        assertEquals("bf16", new Plan(ConfigLoader.read(f), f.toString()).precision);
        Path g = write("{" + data() + "}");
        assertEquals("fp32", new Plan(ConfigLoader.read(g), g.toString()).precision);
    }

    @Test
    void wrongTypeIsNamed() throws Exception {
        String m = error("{" + data() + ", \"batch_size\": \"large\"}");
        assertTrue(m.contains("field 'batch_size' has the wrong type"), m);
        String n = error("{" + data() + ", \"divided_depths\": [2, \"x\"]}");
        assertTrue(n.contains("divided_depths[1]") && n.contains("wrong type"), n);
    }

    @Test
    void moreModulesThanBlocks() throws Exception {
        String m = error("{" + data() + ", \"model\": {\"preset\": \"vit_fmnist_tiny\", \"depth\": 3}, \"modules\": 4}");
        assertTrue(m.contains("field 'modules'") && m.contains("K = 4") && m.contains("depth 3"), m);
    }

    @Test
    void dividedDepthsMustSumToTheDepth() throws Exception {
        String m = error("{" + data() + ", \"model\": {\"preset\": \"vit_fmnist_tiny\", \"depth\": 8}, \"divided_depths\": [3, 3, 3]}");
        assertTrue(m.contains("divided_depths") && m.contains("sum to 9") && m.contains("depth 8"), m);
    }

    @Test
    void aMetaModelNeedsABlockPerModule() throws Exception {
        String m = error("{" + data() + ", \"model\": {\"preset\": \"vit_fmnist_tiny\", \"depth\": 8}, \"modules\": 4, \"meta_depth\": 3}");
        assertTrue(m.contains("field 'meta_depth'") && m.contains("K = 4") && m.contains("got 3"), m);
    }

    @Test
    void missingDatasetDirectoryGivesTheInstallHint() throws Exception {
        String m = error("{\"data\": {\"kind\": \"fashion_mnist\", \"path\": \"/nonexistent/fashion\"}}");
        assertTrue(m.contains("data.path") && m.contains("/nonexistent/fashion") && m.contains("apt-get install dataset-fashion-mnist"), m);
    }

    @Test
    void badValuesAreNamed() throws Exception {
        assertTrue(error("{" + data() + ", \"stages\": {\"meta\": {\"epochs\": -1}}}").contains("stages.meta.epochs"));
        assertTrue(error("{" + data() + ", \"stages\": {\"warmup\": {\"epochs\": 1}}}").contains("stages.warmup"));
        assertTrue(error("{" + data() + ", \"baselines\": [\"e2e\", \"magic\"]}").contains("baselines[1]"));
        assertTrue(error("{" + data() + ", \"optimizer\": \"lamb\"}").contains("field 'optimizer'"));
        assertTrue(error("{" + data() + ", \"model\": {\"preset\": \"vit_huge_9000\"}}").contains("vit_huge_9000"));
        assertTrue(error("{" + data() + ", \"model\": {\"preset\": \"vit_fmnist_tiny\", \"num_heads\": 3}}").contains("num_heads"));
        assertTrue(error("{" + data() + " ").contains("not valid JSON"));
        assertTrue(error("{" + data().replace("}", ", \"pad_to\": 0}") + "}").contains("data.pad_to"));
    }

    @Test
    void theEmbeddedDefaultIsValid() {
        RunConfig c = ConfigLoader.defaults();
        assertEquals("cifar_resnet20", c.model().get("preset"));
        // every default filled in and checked: the ResNet on Fashion-MNIST padded to its 32² images, equal FLOPs
        Plan p = new Plan(c, "default-config.json");
        assertEquals(32, p.padTo);
        assertEquals(3, p.partition.modules());
    }
}
