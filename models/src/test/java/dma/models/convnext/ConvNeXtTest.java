package dma.models.convnext;

import dma.engine.Backend;
import dma.engine.GradMode;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.TensorFiles;
import dma.engine.ops.LossesOps;
import dma.engine.ops.OptimOps;
import dma.engine.testing.GradCheck;
import dma.models.Architecture;
import dma.models.Checkpoint;
import dma.models.ImageClassifier;
import dma.models.assemble.Assembly;
import dma.models.assemble.Partition;
import dma.models.select.WeightSelection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ConvNeXt: timm's names and sizes, the block sequence seen by partitioning and assembly, checkpoints, weight selection. */
class ConvNeXtTest {
    private final Backend be = CpuBackend.get();
    /** 16² images, patch 2: stages at 8, 4, 2, 1 pixels. */
    private final ConvNeXtConfig small = new ConvNeXtConfig(16, 2, 3, 5, new int[]{1, 1, 2, 1}, new int[]{8, 16, 24, 32}, 0.0);

    @Test
    void parameterCountsMatchTimm() {
        // timm: convnext_femto 5.22M, convnext_tiny 28.59M (1000 classes); exact counts from bench/peers/timm_layout.py
        assertEquals(5_217_784, count(ConvNeXtConfig.preset("convnext_femto")));
        assertEquals(28_589_128, count(ConvNeXtConfig.preset("convnext_tiny")));
        assertEquals(4_834_522, count(ConvNeXtConfig.preset("convnext_femto_fmnist")));
    }

    private long count(ConvNeXtConfig c) {
        try (ConvNeXt m = c.build(be, 0)) {
            return m.parameterCount();
        }
    }

    @Test
    void usesTimmNamesInTimmOrder() {
        List<String> expected = new ArrayList<>(List.of("stem.0.weight", "stem.0.bias", "stem.1.weight", "stem.1.bias"));
        int[] depths = small.depths();
        for (int s = 0; s < 4; s++) {
            if (s > 0)
                for (String p : List.of("downsample.0.weight", "downsample.0.bias", "downsample.1.weight", "downsample.1.bias"))
                    expected.add("stages." + s + "." + p);
            for (int j = 0; j < depths[s]; j++)
                for (String p : List.of("gamma", "conv_dw.weight", "conv_dw.bias", "norm.weight", "norm.bias", "mlp.fc1.weight",
                        "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"))
                    expected.add("stages." + s + ".blocks." + j + "." + p);
        }
        expected.addAll(List.of("head.norm.weight", "head.norm.bias", "head.fc.weight", "head.fc.bias"));
        try (ConvNeXt m = small.build(be, 1)) {
            assertEquals(expected, List.copyOf(m.stateDict().keySet()));
            var sd = m.stateDict();
            assertArrayEquals(new int[]{8, 3, 2, 2}, sd.get("stem.0.weight").shape());
            assertArrayEquals(new int[]{16, 8, 2, 2}, sd.get("stages.1.downsample.1.weight").shape());
            assertArrayEquals(new int[]{24, 1, 7, 7}, sd.get("stages.2.blocks.1.conv_dw.weight").shape());
            assertArrayEquals(new int[]{96, 24}, sd.get("stages.2.blocks.0.mlp.fc1.weight").shape());
            assertArrayEquals(new int[]{5, 32}, sd.get("head.fc.weight").shape());
            float[] gamma = sd.get("stages.0.blocks.0.gamma").toFloats();
            for (float g : gamma) assertEquals(1e-6f, g, "layer scale starts at 1e-6");
            for (float b : sd.get("stem.0.bias").toFloats()) assertEquals(0f, b, "timm init: zero conv bias");
        }
    }

    @Test
    void forwardShapesAndInputChecks() {
        ConvNeXtConfig c = ConvNeXtConfig.preset("convnext_femto_fmnist").withDepths(1, 1, 1, 1);
        try (ConvNeXt m = c.build(be, 1); Scope s = Scope.open()) {
            Tensor x = Tensor.normal(be, 3, 0f, 1f, 2, 1, 28, 28);
            Tensor h = m.forwardStem(x);
            assertArrayEquals(new int[]{2, 48, 14, 14}, h.shape());
            int[][] after = {{2, 48, 14, 14}, {2, 96, 7, 7}, {2, 192, 3, 3}, {2, 384, 1, 1}};
            for (int i = 0; i < 4; i++) assertArrayEquals(after[i], (h = m.forwardBlock(i, h, new Rng(i))).shape(), "block " + i);
            assertArrayEquals(new int[]{2, 10}, m.forwardHead(h).shape());
            assertArrayEquals(new int[]{2, 10}, m.forward(x, new Rng(1)).shape());
            var ch = assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.zeros(be, 2, 3, 28, 28), null));
            assertTrue(ch.getMessage().contains("[2, 3, 28, 28]"), ch.getMessage());
            var tiny = assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.zeros(be, 2, 1, 14, 14), null));
            assertTrue(tiny.getMessage().contains("≥ 16"), tiny.getMessage());
        }
        var cfg = assertThrows(IllegalArgumentException.class, () -> new ConvNeXtConfig(28, 4, 1, 10, new int[]{1, 1, 1, 1}, new int[]{8, 8, 8, 8}, 0));
        assertTrue(cfg.getMessage().contains("img_size 28") && cfg.getMessage().contains("patch_size 4"), cfg.getMessage());
    }

    /** Every parameter kind gets the gradient finite differences give (layer scale raised from 1e-6 so the blocks matter). */
    @Test
    void gradientsMatchFiniteDifferences() {
        try (ConvNeXt m = small.build(be, 5)) {
            perturb(m, 0.3f);
            Tensor x = Scope.persistent(() -> Tensor.normal(be, 9, 0f, 1f, 2, 3, 16, 16));
            var p = m.parameters();
            new GradCheck(3e-3, 2e-3, 2e-2, 25).check("convnext", t -> m.forward(t[0], null), x,
                    p.get("stem.0.weight"), p.get("stem.1.bias"), p.get("stages.0.blocks.0.conv_dw.weight"), p.get("stages.0.blocks.0.gamma"),
                    p.get("stages.1.downsample.0.weight"), p.get("stages.1.downsample.1.weight"), p.get("stages.2.blocks.1.norm.weight"),
                    p.get("stages.2.blocks.1.mlp.fc1.weight"), p.get("stages.3.blocks.0.conv_dw.bias"), p.get("head.norm.weight"),
                    p.get("head.fc.weight"));
            x.close();
        }
    }

    /** Adds uniform noise in [−a, a) to every parameter, and sets every layer scale to a + that noise. */
    private void perturb(ImageClassifier m, float a) {
        int[] k = {0};
        m.parameters().forEach((name, t) -> {
            try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
                Tensor noise = Tensor.uniform(be, 500 + k[0]++, -a, a, t.shape());
                t.copyFrom(name.endsWith("gamma") ? noise.add(Tensor.full(be, a, 1)) : t.add(noise));
            }
        });
    }

    @Test
    void dropPathFollowsTimmsLinspaceAndEvalIsDeterministic() {
        ConvNeXtConfig c = small.withDropPath(0.5);
        assertEquals(0.0, c.dropPathOf(0));
        assertEquals(0.5 * 3 / 4, c.dropPathOf(3), 1e-12);
        assertEquals(0.5, c.dropPathOf(4), 1e-12);
        try (ConvNeXt m = c.build(be, 2); Scope s = Scope.open()) {
            perturb(m, 0.3f);
            Tensor x = Tensor.normal(be, 3, 0f, 1f, 4, 3, 16, 16);
            float[] a = m.forward(x, new Rng(1)).toFloats(), b = m.forward(x, new Rng(2)).toFloats();
            assertFalse(java.util.Arrays.equals(a, b), "train mode: different drop-path masks, different outputs");
            var e = assertThrows(IllegalStateException.class, () -> m.forward(x, null));
            assertTrue(e.getMessage().contains("Rng"), e.getMessage());
            m.train(false);
            try (GradMode off = GradMode.disabled()) {
                Tensor y1 = m.forward(x, null), y2 = m.forward(x, null);
                assertArrayEquals(y1.toFloats(), y2.toFloats(), 0f);
                assertNull(y1.node());
            }
        }
    }

    // ---------------------------------------------------------------- partitioning and assembly

    @Test
    void blockSequenceAndKeyTranslation() {
        assertEquals(5, small.blocks());
        assertEquals(Architecture.STEM, small.blockOf("stem.1.weight"));
        assertEquals(Architecture.HEAD, small.blockOf("head.norm.bias"));
        assertEquals(0, small.blockOf("stages.0.blocks.0.gamma"));
        assertEquals(1, small.blockOf("stages.1.downsample.1.weight"), "a downsample belongs to its stage's first block");
        assertEquals(3, small.blockOf("stages.2.blocks.1.mlp.fc2.bias"));
        assertEquals(4, small.blockOf("stages.3.downsample.0.bias"));
        for (String bad : List.of("stages.0.downsample.0.weight", "stages.2.blocks.2.gamma", "stages.4.blocks.0.gamma", "norm.weight"))
            assertThrows(IllegalArgumentException.class, () -> small.blockOf(bad), bad);
        try (ConvNeXt m = small.build(be, 0)) {
            for (String key : m.stateDict().keySet()) {
                int b = small.blockOf(key);
                if (b >= 0) assertEquals(key, small.keyInBlock(b, small.suffixInBlock(key)), "round trip of " + key);
            }
        }
        assertEquals("downsample.1.weight", small.suffixInBlock("stages.2.downsample.1.weight"));
        assertEquals("mlp.fc1.weight", small.suffixInBlock("stages.2.blocks.1.mlp.fc1.weight"));

        Partition p = Partition.equal(small, 4);
        assertArrayEquals(new int[]{1, 1, 2, 1}, p.depths());
        assertEquals(small.withDepths(1, 1, 1, 1), p.meta());
        assertEquals(0, p.moduleOfTarget("stem.0.weight"));
        assertEquals(2, p.moduleOfTarget("stages.2.downsample.0.weight"));
        assertEquals(2, p.moduleOfTarget("stages.2.blocks.1.gamma"));
        assertEquals(3, p.moduleOfTarget("head.fc.bias"));
        // hybrid(2) = the meta model with stage 2 at its full two blocks; its keys are already the target's
        assertEquals("stages.2.blocks.1.conv_dw.weight", p.targetKeyOfHybrid(2, "stages.2.blocks.1.conv_dw.weight"));
        assertEquals("stages.2.downsample.1.bias", p.targetKeyOfHybrid(2, "stages.2.downsample.1.bias"));
        assertEquals("stages.3.downsample.0.weight", p.metaKeyOfHybrid(2, "stages.3.downsample.0.weight"));
        assertEquals("stages.3.blocks.0.gamma", p.metaKeyOfHybrid(2, "stages.3.blocks.0.gamma"));
        assertEquals(3, p.moduleOfHybrid(2, "stages.3.downsample.1.weight"));
        // a deeper target: hybrid(1) has stage 1 at three blocks, target stage 1 starts at global block 2
        ConvNeXtConfig deep = small.withDepths(2, 3, 2, 1);
        Partition dp = Partition.equal(deep, 4);
        assertEquals("stages.1.blocks.2.norm.bias", dp.targetKeyOfHybrid(1, "stages.1.blocks.2.norm.bias"));
        assertEquals("stages.2.blocks.0.mlp.fc1.weight", dp.metaKeyOfHybrid(1, "stages.2.blocks.0.mlp.fc1.weight"));
        assertEquals("stages.0.blocks.0.gamma", dp.metaKeyOfHybrid(1, "stages.0.blocks.0.gamma"));

        var k = assertThrows(IllegalArgumentException.class, () -> Partition.equal(small, 3));
        assertTrue(k.getMessage().contains("K must be 4"), k.getMessage());
        var d = assertThrows(IllegalArgumentException.class, () -> Partition.of(small, 2, 1, 1, 1));
        assertTrue(d.getMessage().contains("[1, 1, 2, 1]"), d.getMessage());
    }

    @Test
    void assembleOfSplitIsTheModelBitForBit() {
        Partition p = Partition.equal(small, 4);
        try (ImageClassifier m = small.build(be, 3); ImageClassifier copy = small.build(be, 4)) {
            List<Map<String, Tensor>> parts = new ArrayList<>();
            List<String> origins = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                parts.add(Assembly.split(p, i, m.stateDict()));
                origins.add("module" + i);
            }
            assertTrue(parts.get(1).containsKey("stages.1.downsample.1.weight"), "module 1 holds its stage's downsample");
            copy.load(Assembly.assemble(p, parts, origins, copy.stateDict()), "assembled", true);
            m.stateDict().forEach((key, v) -> assertArrayEquals(v.toFloats(), copy.stateDict().get(key).toFloats(), 0f, key));
        }
    }

    /** Incubating module 2 (stage 2 with its downsample) inside the frozen meta model changes that module and nothing else. */
    @Test
    void trainingAHybridChangesOnlyItsModule() {
        Partition p = Partition.equal(small.withDepths(1, 1, 3, 1), 4);
        int module = 2;
        try (ImageClassifier meta = p.meta().build(be, 11);
             ImageClassifier hybrid = Assembly.hybrid(p, module, meta.stateDict(), "meta", be, 12, a -> a)) {
            Map<String, float[]> before = new HashMap<>();
            hybrid.stateDict().forEach((k, v) -> before.put(k, v.toFloats()));
            hybrid.stateDict().forEach((k, v) -> {
                if (p.moduleOfHybrid(module, k) != module)
                    assertArrayEquals(meta.stateDict().get(p.metaKeyOfHybrid(module, k)).toFloats(), v.toFloats(), 0f, k);
            });
            List<Tensor> trainable = new ArrayList<>(hybrid.trainableParameters().values());
            assertTrue(hybrid.trainableParameters().containsKey("stages.2.downsample.1.weight"));
            List<Tensor> moments = new ArrayList<>();
            for (Tensor t : trainable) {
                moments.add(Scope.persistent(() -> Tensor.zeros(be, t.shape())));
                moments.add(Scope.persistent(() -> Tensor.zeros(be, t.shape())));
            }
            for (int step = 1; step <= 2; step++) {
                try (Scope s = Scope.open()) {
                    Tensor x = Tensor.normal(be, step, 0f, 1f, 3, 3, 16, 16);
                    LossesOps.crossEntropy(hybrid.forward(x, new Rng(step)), new int[]{0, 1, 4}, 0.1f).backward();
                    for (int t = 0; t < trainable.size(); t++)
                        OptimOps.adamw(trainable.get(t), moments.get(2 * t), moments.get(2 * t + 1), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                }
            }
            hybrid.stateDict().forEach((k, v) -> {
                boolean mine = p.moduleOfHybrid(module, k) == module;
                assertEquals(mine, !java.util.Arrays.equals(before.get(k), v.toFloats()), (mine ? "module tensor did not change: " : "frozen tensor changed: ") + k);
            });
            moments.forEach(Tensor::close);
            try (ImageClassifier target = p.target().build(be, 0)) {
                assertEquals(Assembly.split(p, module, target.stateDict()).keySet(), Assembly.moduleState(p, module, hybrid).keySet());
            }
        }
    }

    // ---------------------------------------------------------------- checkpoints

    @Test
    void checkpointsRoundTripWithAndWithoutMetadata(@TempDir Path dir) {
        Path ours = dir.resolve("ours.safetensors"), bare = dir.resolve("bare.safetensors");
        try (ConvNeXt m = small.build(be, 7)) {
            Checkpoint.save(ours, m, "test", 1, null);
            TensorFiles.save(bare, m.stateDict(), Map.of());
            try (ImageClassifier a = Checkpoint.load(ours, be, null).model(); ImageClassifier b = Checkpoint.load(bare, be, null).model()) {
                assertEquals(small, a.architecture());
                ConvNeXtConfig inferred = (ConvNeXtConfig) b.architecture();
                assertArrayEquals(small.depths(), inferred.depths());
                assertArrayEquals(small.dims(), inferred.dims());
                assertEquals(2, inferred.patchSize());
                assertEquals(5, inferred.numClasses());
                m.stateDict().forEach((k, v) -> assertArrayEquals(v.toFloats(), b.stateDict().get(k).toFloats(), 0f, k));
            }
        }
    }

    // ---------------------------------------------------------------- weight selection

    /**
     * ConvNeXt-T → ConvNeXt-F in miniature: depths 2/3/3/2 → 1/1/2/1, dims 16/32/48/64 → 8/16/24/32. Every student tensor
     * but the head's is the same-named teacher tensor (first blocks of each stage) at every other index of every
     * dimension that halves; depthwise kernels keep their 7×7 taps; head.norm and head.fc keep the student's init.
     */
    @Test
    void weightSelectionFromALargerConvNeXt() {
        ConvNeXtConfig teacherArch = new ConvNeXtConfig(16, 2, 3, 7, new int[]{2, 3, 3, 2}, new int[]{16, 32, 48, 64}, 0.0);
        try (ConvNeXt teacher = teacherArch.build(be, 21); ConvNeXt student = small.build(be, 22)) {
            perturb(teacher, 0.5f);
            perturb(student, 0.5f);
            assertEquals(ConvNeXtFamily.INSTANCE, dma.models.ModelFamily.ofMarker(student.stateDict().keySet()));
            LinkedHashMap<String, Tensor> out = WeightSelection.select(teacher.stateDict(), student.stateDict());
            try {
                for (var e : out.entrySet()) {
                    String name = e.getKey();
                    Tensor s = student.stateDict().get(name), got = e.getValue();
                    if (name.startsWith("head.")) {
                        assertArrayEquals(s.toFloats(), got.toFloats(), 0f, name + " keeps the student's init");
                        continue;
                    }
                    Tensor t = teacher.stateDict().get(name);
                    int[] ts = t.shape(), ss = s.shape();
                    int[][] ix = new int[ts.length][];
                    for (int d = 0; d < ts.length; d++) {
                        int step = ts[d] / ss[d];
                        assertEquals(ts[d], step * ss[d], name + " dimension " + d);
                        ix[d] = IntStream.range(0, ss[d]).map(i -> i * step).toArray();
                    }
                    if (name.endsWith("conv_dw.weight")) {
                        assertEquals(7, ss[2]);
                        assertArrayEquals(new int[]{ts[0] / 2, 1, 7, 7}, ss, name + ": channels only");
                    }
                    assertArrayEquals(gather(t.toFloats(), ts, ix), got.toFloats(), 0f, name);
                }
                student.load(out, "selected", true);
            } finally {
                out.values().forEach(Tensor::close);
            }
            try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
                assertArrayEquals(new int[]{2, 5}, student.forward(Tensor.normal(be, 1, 0f, 1f, 2, 3, 16, 16), null).shape());
            }
        }
    }

    @Test
    void weightSelectionNamesTheFirstTensorItCannotMap() {
        ConvNeXtConfig teacherArch = new ConvNeXtConfig(16, 2, 3, 7, new int[]{2, 1, 3, 2}, new int[]{16, 32, 48, 64}, 0.0);
        ConvNeXtConfig deeper = small.withDepths(1, 2, 2, 1);
        try (ConvNeXt teacher = teacherArch.build(be, 1); ConvNeXt student = deeper.build(be, 2)) {
            var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher.stateDict(), student.stateDict()));
            assertTrue(e.getMessage().contains("'stages.1.blocks.1.gamma'") && e.getMessage().contains("no teacher counterpart"), e.getMessage());
        }
        ConvNeXtConfig patch4 = new ConvNeXtConfig(32, 4, 3, 7, new int[]{2, 2, 3, 2}, new int[]{16, 32, 48, 64}, 0.0);
        try (ConvNeXt teacher = patch4.build(be, 1); ConvNeXt student = small.build(be, 2)) {
            var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher.stateDict(), student.stateDict()));
            assertTrue(e.getMessage().contains("'stem.0.weight'") && e.getMessage().contains("2×2") && e.getMessage().contains("4×4"), e.getMessage());
        }
    }

    private static float[] gather(float[] src, int[] shape, int[][] ix) {
        int n = 1;
        for (int[] a : ix) n *= a.length;
        float[] out = new float[n];
        int[] pos = new int[shape.length];
        for (int o = 0; o < n; o++) {
            int rem = o, flat = 0;
            for (int d = shape.length - 1; d >= 0; d--) {
                pos[d] = rem % ix[d].length;
                rem /= ix[d].length;
            }
            for (int d = 0; d < shape.length; d++) flat = flat * shape[d] + ix[d][pos[d]];
            out[o] = src[flat];
        }
        return out;
    }
}
