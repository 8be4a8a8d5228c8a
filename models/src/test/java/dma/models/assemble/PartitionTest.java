package dma.models.assemble;

import dma.engine.Backend;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.ops.LossesOps;
import dma.engine.ops.OptimOps;
import dma.models.ImageClassifier;
import dma.models.resnet.ResNetConfig;
import dma.models.vit.ViTConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PartitionTest {
    private final Backend be = CpuBackend.get();
    private final ViTConfig vit = new ViTConfig(8, 4, 1, 3, 8, 7, 2, 2, 0.1);

    @Test
    void equalSplitGivesTheRemainderToTheFirstModules() {
        assertArrayEquals(new int[]{3, 2, 2}, Partition.equal(vit, 3).depths());
        assertArrayEquals(new int[]{2, 2, 2, 1}, Partition.equal(vit, 4).depths());
        var e = assertThrows(IllegalArgumentException.class, () -> Partition.equal(vit, 8));
        assertTrue(e.getMessage().contains("K = 8"), e.getMessage());
        var sum = assertThrows(IllegalArgumentException.class, () -> Partition.of(vit, 3, 3));
        assertTrue(sum.getMessage().contains("sum to 6") && sum.getMessage().contains("depth 7"), sum.getMessage());
        var k = assertThrows(IllegalArgumentException.class, () -> Partition.equal(ResNetConfig.cifar(20, 3, 10), 2));
        assertTrue(k.getMessage().contains("three stages"), k.getMessage());
    }

    @Test
    void keyOwnershipAndTranslation() {
        Partition p = Partition.of(vit, 2, 3, 2);
        assertEquals(0, p.moduleOfTarget("cls_token"));
        assertEquals(0, p.moduleOfTarget("blocks.1.attn.qkv.weight"));
        assertEquals(1, p.moduleOfTarget("blocks.2.norm1.weight"));
        assertEquals(2, p.moduleOfTarget("blocks.5.mlp.fc1.bias"));
        assertEquals(2, p.moduleOfTarget("head.weight"));
        // hybrid(1) = meta block 0, target blocks 2..4 (as hybrid blocks 1..3), meta block 2 (as hybrid block 4)
        assertEquals("blocks.4.norm1.weight", p.targetKeyOfHybrid(1, "blocks.3.norm1.weight"));
        assertEquals("blocks.2.attn.proj.bias", p.metaKeyOfHybrid(1, "blocks.4.attn.proj.bias"));
        assertEquals("blocks.0.attn.proj.bias", p.metaKeyOfHybrid(1, "blocks.0.attn.proj.bias"));
        assertEquals("head.bias", p.metaKeyOfHybrid(1, "head.bias"));
        ResNetConfig r = ResNetConfig.cifar(20, 3, 10);
        Partition rp = Partition.equal(r, 3);
        assertEquals("layer2.2.conv1.weight", rp.targetKeyOfHybrid(1, "layer2.2.conv1.weight"));
        assertEquals("layer3.0.bn1.weight", rp.metaKeyOfHybrid(1, "layer3.0.bn1.weight"));
        assertEquals(2, rp.moduleOfTarget("fc.weight"));
        assertEquals(0, rp.moduleOfTarget("bn1.running_mean"));
    }

    @Test
    void aDeeperMetaModelGivesEachModuleItsMetaBlocks() {
        Partition p = Partition.of(vit, 2, 3, 2).withMetaDepth(5);
        assertArrayEquals(new int[]{2, 2, 1}, p.metaDepths());
        assertEquals(5, p.meta().blocks());
        assertEquals(6, p.hybrid(1).blocks()); // meta blocks 0–1, target blocks 2–4 (as hybrid blocks 2–4), meta block 4 (as 5)
        assertEquals(2, p.metaOffset(1));
        assertEquals("blocks.4.norm1.weight", p.targetKeyOfHybrid(1, "blocks.4.norm1.weight"));
        assertEquals("blocks.4.attn.proj.bias", p.metaKeyOfHybrid(1, "blocks.5.attn.proj.bias"));
        assertEquals("blocks.1.attn.proj.bias", p.metaKeyOfHybrid(1, "blocks.1.attn.proj.bias"));
        assertEquals(0, p.moduleOfHybrid(1, "blocks.1.norm2.bias"));
        assertEquals(2, p.moduleOfHybrid(1, "blocks.5.norm2.bias"));
        // hybrid(0): target blocks 0–1, then meta module 1's blocks 2–3 and meta module 2's block 4, at their meta positions
        assertEquals(1, p.moduleOfHybrid(0, "blocks.3.mlp.fc2.weight"));
        assertEquals("blocks.3.mlp.fc2.weight", p.metaKeyOfHybrid(0, "blocks.3.mlp.fc2.weight"));
        // hybrid(2): meta blocks 0–3, then target blocks 5–6 as hybrid blocks 4–5
        assertEquals("blocks.6.norm1.bias", p.targetKeyOfHybrid(2, "blocks.5.norm1.bias"));
        assertEquals(1, p.moduleOfHybrid(2, "blocks.2.norm1.bias"));
        var few = assertThrows(IllegalArgumentException.class, () -> Partition.of(vit, 2, 3, 2).withMetaDepth(2));
        assertTrue(few.getMessage().contains("2 blocks") && few.getMessage().contains("3 modules"), few.getMessage());
        Partition rp = Partition.equal(ResNetConfig.cifar(20, 3, 10), 3).withMetaDepth(6); // two blocks per stage
        assertEquals("layer3.1.bn1.weight", rp.metaKeyOfHybrid(1, "layer3.1.bn1.weight"));
        assertEquals("layer2.2.conv1.weight", rp.targetKeyOfHybrid(1, "layer2.2.conv1.weight"));
        assertEquals(0, rp.moduleOfHybrid(1, "layer1.1.conv2.weight"));
    }

    @Test
    void assembleOfSplitIsTheModelBitForBit() {
        for (var arch : List.of(vit, (dma.models.Architecture) ResNetConfig.cifar(20, 3, 10))) {
            Partition p = arch == vit ? Partition.of(vit, 2, 3, 2) : Partition.equal(arch, 3);
            try (ImageClassifier m = arch.build(be, 3); ImageClassifier copy = arch.build(be, 4)) {
                List<Map<String, Tensor>> parts = new ArrayList<>();
                List<String> origins = new ArrayList<>();
                for (int i = 0; i < p.modules(); i++) {
                    parts.add(Assembly.split(p, i, m.stateDict()));
                    origins.add("module" + i + ".safetensors");
                }
                copy.load(Assembly.assemble(p, parts, origins, copy.stateDict()), "assembled", true);
                m.stateDict().forEach((k, v) -> assertArrayEquals(v.toFloats(), copy.stateDict().get(k).toFloats(), 0f, k));
            }
        }
    }

    @Test
    void assemblyNamesMissingDuplicateAndMisshapenKeys() {
        Partition p = Partition.of(vit, 2, 3, 2);
        try (ImageClassifier m = vit.build(be, 3)) {
            List<Map<String, Tensor>> parts = new ArrayList<>();
            for (int i = 0; i < 3; i++) parts.add(new LinkedHashMap<>(Assembly.split(p, i, m.stateDict())));
            List<String> origins = List.of("m0.safetensors", "m1.safetensors", "m2.safetensors");
            parts.get(1).remove("blocks.3.mlp.fc1.weight");
            var missing = assertThrows(IllegalArgumentException.class, () -> Assembly.assemble(p, parts, origins, m.stateDict()));
            assertTrue(missing.getMessage().contains("blocks.3.mlp.fc1.weight") && missing.getMessage().contains("m1.safetensors"), missing.getMessage());
            parts.get(1).put("blocks.3.mlp.fc1.weight", m.stateDict().get("blocks.3.mlp.fc1.weight"));
            parts.get(2).put("blocks.3.mlp.fc1.weight", m.stateDict().get("blocks.3.mlp.fc1.weight"));
            var dup = assertThrows(IllegalArgumentException.class, () -> Assembly.assemble(p, parts, origins, m.stateDict()));
            assertTrue(dup.getMessage().contains("appears twice") && dup.getMessage().contains("m2.safetensors"), dup.getMessage());
            parts.get(2).remove("blocks.3.mlp.fc1.weight");
            try (Scope s = Scope.open()) {
                parts.get(0).put("cls_token", Tensor.zeros(be, 1, 1, 9));
                var shape = assertThrows(IllegalArgumentException.class, () -> Assembly.assemble(p, parts, origins, m.stateDict()));
                assertTrue(shape.getMessage().contains("cls_token") && shape.getMessage().contains("[1, 1, 9]") && shape.getMessage().contains("[1, 1, 8]"), shape.getMessage());
            }
        }
    }

    @Test
    void wrongShapedLoadNamesKeyAndBothShapes() {
        try (ImageClassifier small = vit.build(be, 1); ImageClassifier wide = vit.withModuleDepths(new int[]{7}).build(be, 1)) {
            Map<String, Tensor> src = new HashMap<>(small.stateDict());
            try (Scope s = Scope.open()) {
                src.put("head.weight", Tensor.zeros(be, 4, 8));
                var e = assertThrows(IllegalArgumentException.class, () -> wide.load(src, "ckpt.safetensors", true));
                assertTrue(e.getMessage().contains("ckpt.safetensors") && e.getMessage().contains("head.weight")
                        && e.getMessage().contains("[4, 8]") && e.getMessage().contains("[3, 8]"), e.getMessage());
            }
        }
    }

    @Test
    void trainingAHybridChangesOnlyItsModule() {
        for (Partition p : List.of(Partition.of(vit, 2, 3, 2), Partition.of(vit, 2, 3, 2).withMetaDepth(5)))
            trainEachHybrid(p);
    }

    private void trainEachHybrid(Partition p) {
        for (int i = 0; i < 3; i++) {
            int module = i;
            try (ImageClassifier meta = p.meta().build(be, 11);
                 ImageClassifier hybrid = Assembly.hybrid(p, module, meta.stateDict(), "meta.safetensors", be, 12, a -> a)) {
                Map<String, float[]> before = new HashMap<>();
                hybrid.stateDict().forEach((k, v) -> before.put(k, v.toFloats()));
                // frozen parts came from the meta model
                hybrid.stateDict().forEach((k, v) -> {
                    if (p.moduleOfHybrid(module, k) != module)
                        assertArrayEquals(meta.stateDict().get(p.metaKeyOfHybrid(module, k)).toFloats(), v.toFloats(), 0f, k);
                });
                List<Tensor> trainable = new ArrayList<>(hybrid.trainableParameters().values());
                assertFalse(trainable.isEmpty());
                List<Tensor> moments = new ArrayList<>();
                for (Tensor t : trainable) {
                    moments.add(Scope.persistent(() -> Tensor.zeros(be, t.shape())));
                    moments.add(Scope.persistent(() -> Tensor.zeros(be, t.shape())));
                }
                for (int step = 1; step <= 3; step++) {
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.normal(be, step, 0f, 1f, 4, 1, 8, 8);
                        LossesOps.crossEntropy(hybrid.forward(x, new Rng(step)), new int[]{0, 1, 2, 1}, 0.1f).backward();
                        for (int t = 0; t < trainable.size(); t++)
                            OptimOps.adamw(trainable.get(t), moments.get(2 * t), moments.get(2 * t + 1), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                    }
                }
                hybrid.stateDict().forEach((k, v) -> {
                    boolean mine = p.moduleOfHybrid(module, k) == module;
                    boolean changed = !java.util.Arrays.equals(before.get(k), v.toFloats());
                    assertEquals(mine, changed, (mine ? "module tensor did not change: " : "frozen tensor changed: ") + k);
                    if (!mine) assertEquals(null, v.grad(), "frozen tensor got a gradient: " + k);
                });
                moments.forEach(Tensor::close);
                assertEquals(Assembly.split(p, module, vitState(p)).keySet(), Assembly.moduleState(p, module, hybrid).keySet());
            }
        }
    }

    private Map<String, Tensor> vitState(Partition p) {
        try (ImageClassifier t = p.target().build(be, 0)) {
            Map<String, Tensor> shapes = new LinkedHashMap<>();
            t.stateDict().forEach((k, v) -> shapes.put(k, v));
            return shapes;
        }
    }
}
