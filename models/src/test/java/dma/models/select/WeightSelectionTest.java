package dma.models.select;

import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.models.ModelFamily;
import dma.models.resnet.ResNetFamily;
import dma.models.vit.ViTFamily;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class WeightSelectionTest {
    private static final Backend CPU = CpuBackend.get();

    /** Every tensor a test made, closed after it. */
    private final List<Tensor> made = new ArrayList<>();

    @AfterEach
    void closeAll() {
        for (Tensor t : made) t.close();
        made.clear();
    }

    // ------------------------------------------------------------------ indices

    @Test
    void indicesDivisibleTakesEveryKth() {
        int[] expected = IntStream.range(0, 192).map(i -> 2 * i).toArray(); // 0, 2, …, 382
        assertArrayEquals(expected, WeightSelection.indices(384, 192));
        assertEquals(382, WeightSelection.indices(384, 192)[191]);
        assertArrayEquals(new int[] {0, 4, 8}, WeightSelection.indices(12, 3));
        assertArrayEquals(new int[] {0}, WeightSelection.indices(5, 1));
    }

    @Test
    void indicesLinspaceRoundsHalvesToEven() {
        assertArrayEquals(new int[] {0, 3, 6, 9}, WeightSelection.indices(10, 4)); // linspace(0,9,4) = 0,3,6,9
        assertArrayEquals(new int[] {0, 4, 9}, WeightSelection.indices(10, 3));    // 0, 4.5 → 4 (even), 9
        // linspace(0, 5, 4) = 0, 5/3, 10/3, 5 → 0, 2, 3, 5
        assertArrayEquals(new int[] {0, 2, 3, 5}, WeightSelection.indices(6, 4));
        // linspace(0, 3, 3) = 0, 1.5, 3 → 1.5 rounds to 2 (even)
        assertArrayEquals(new int[] {0, 2, 3}, WeightSelection.indices(4, 3));
        // linspace(0, 4, 3)... 5→3: 0, 2, 4 (no halves); 8→3: 0, 3.5→4, 7
        assertArrayEquals(new int[] {0, 2, 4}, WeightSelection.indices(5, 3));
        assertArrayEquals(new int[] {0, 4, 7}, WeightSelection.indices(8, 3));
        // 6→5: linspace(0,5,5) = 0, 1.25, 2.5, 3.75, 5 → 0, 1, 2 (2.5 to even), 4, 5
        assertArrayEquals(new int[] {0, 1, 2, 4, 5}, WeightSelection.indices(6, 5));
    }

    @Test
    void indicesRoundExactHalvesToEven() {
        // 48→23, point 11: 11·47/22 = 23.5 exactly → 24 (even); torch 1.13's float32 linspace also gives 24 here
        assertEquals(24, WeightSelection.indices(48, 23)[11]);
        // 9→4 point 1: 8/3 → 3; 5→3 point 1: exactly 2 → 2; 6→4 point 1: 5/3 → 2; 8→3 point 1: 3.5 → 4
        assertEquals(3, WeightSelection.indices(9, 4)[1]);
        assertEquals(4, WeightSelection.indices(8, 3)[1]);
    }

    @Test
    void indicesIdentityWhenEqual() {
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6}, WeightSelection.indices(7, 7));
        assertArrayEquals(new int[] {0}, WeightSelection.indices(1, 1));
    }

    @Test
    void indicesAreStrictlyIncreasingAndInRange() {
        for (int t = 1; t <= 300; t++)
            for (int s = 1; s <= t; s++) {
                int[] ix = WeightSelection.indices(t, s);
                boolean ok = ix.length == s && ix[0] == 0 && ix[s - 1] <= t - 1;
                for (int i = 1; i < s && ok; i++) ok = ix[i] > ix[i - 1];
                if (t % s != 0) ok &= ix[s - 1] == t - 1; // linspace ends at the last index
                if (!ok) fail(t + "→" + s + ": " + Arrays.toString(ix));
            }
    }

    @Test
    void indicesRejectLargerStudent() {
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.indices(4, 5));
        assertTrue(e.getMessage().contains("5") && e.getMessage().contains("4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WeightSelection.indices(4, 0));
    }

    // ------------------------------------------------------------------ toy state dicts

    /** Builds a state dict; tensor number k holds value {@code sign·(k·10000 + flatIndex)}. */
    private final class Dict {
        final LinkedHashMap<String, Tensor> map = new LinkedHashMap<>();
        private final float sign;
        private final float offset;

        Dict(float sign, float offset) {
            this.sign = sign;
            this.offset = offset;
        }

        Dict put(String name, int... shape) {
            int id = map.size() + 1;
            int n = Tensor.numel(shape);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = sign * (id * 10000 + i) + offset;
            Tensor t = Tensor.of(CPU, v, shape);
            made.add(t);
            map.put(name, t);
            return this;
        }
    }

    private Dict teacherDict() { return new Dict(1f, 0f); }
    private Dict studentDict() { return new Dict(-1f, -0.5f); }

    /** timm VisionTransformer names: patch 4, 1 channel, 8×8 images (4 patches + class token = 5 tokens), mlp ratio 4. */
    private Dict vit(Dict d, int depth, int width, int classes) {
        d.put("cls_token", 1, 1, width);
        d.put("pos_embed", 1, 5, width);
        d.put("patch_embed.proj.weight", width, 1, 4, 4);
        d.put("patch_embed.proj.bias", width);
        for (int i = 0; i < depth; i++) {
            String b = "blocks." + i + ".";
            d.put(b + "norm1.weight", width).put(b + "norm1.bias", width);
            d.put(b + "attn.qkv.weight", 3 * width, width).put(b + "attn.qkv.bias", 3 * width);
            d.put(b + "attn.proj.weight", width, width).put(b + "attn.proj.bias", width);
            d.put(b + "norm2.weight", width).put(b + "norm2.bias", width);
            d.put(b + "mlp.fc1.weight", 4 * width, width).put(b + "mlp.fc1.bias", 4 * width);
            d.put(b + "mlp.fc2.weight", width, 4 * width).put(b + "mlp.fc2.bias", width);
        }
        d.put("norm.weight", width).put("norm.bias", width);
        d.put("head.weight", classes, width).put("head.bias", classes);
        return d;
    }

    /** timm-style CifarResNet names (option-A shortcuts, no parameters): stem, three stages, fc. */
    private Dict resnet(Dict d, int blocksPerStage, int base, int classes) {
        int[] widths = {base, 2 * base, 4 * base};
        d.put("conv1.weight", base, 3, 3, 3);
        bn(d, "bn1.", base);
        int in = base;
        for (int stage = 0; stage < 3; stage++) {
            int w = widths[stage];
            for (int j = 0; j < blocksPerStage; j++) {
                String b = "layer" + (stage + 1) + "." + j + ".";
                d.put(b + "conv1.weight", w, in, 3, 3);
                bn(d, b + "bn1.", w);
                d.put(b + "conv2.weight", w, w, 3, 3);
                bn(d, b + "bn2.", w);
                in = w;
            }
        }
        d.put("fc.weight", classes, widths[2]).put("fc.bias", classes);
        return d;
    }

    private static void bn(Dict d, String prefix, int c) {
        d.put(prefix + "weight", c).put(prefix + "bias", c).put(prefix + "running_mean", c).put(prefix + "running_var", c);
    }

    /**
     * The test's own selection: {@code src[ix[0][i0], ix[1][i1], …]} over the student positions, from the
     * teacher's values and per-dimension index lists written out by the test.
     */
    private static float[] expectedSelection(float[] src, int[] srcShape, int[][] ix) {
        int n = 1;
        for (int[] a : ix) n *= a.length;
        float[] out = new float[n];
        int rank = srcShape.length;
        int[] pos = new int[rank];
        for (int o = 0; o < n; o++) {
            int rem = o;
            for (int d = rank - 1; d >= 0; d--) {
                pos[d] = rem % ix[d].length;
                rem /= ix[d].length;
            }
            int flat = 0;
            for (int d = 0; d < rank; d++) flat = flat * srcShape[d] + ix[d][pos[d]];
            out[o] = src[flat];
        }
        return out;
    }

    private static int[] evens(int count) { return IntStream.range(0, count).map(i -> 2 * i).toArray(); }
    private static int[] all(int count) { return IntStream.range(0, count).toArray(); }

    /** For each dimension size of the toy dicts, the student size and the indices a halving selection keeps. */
    private static int[][] halvingIndices(int[] teacherShape, int[] studentShape) {
        int[][] ix = new int[teacherShape.length][];
        for (int d = 0; d < teacherShape.length; d++) {
            if (teacherShape[d] == studentShape[d]) ix[d] = all(studentShape[d]);
            else {
                assertEquals(teacherShape[d], 2 * studentShape[d], "toy dicts halve every changed dimension");
                ix[d] = evens(studentShape[d]);
            }
        }
        return ix;
    }

    private void checkAgainstHalving(Map<String, Tensor> teacher, Map<String, Tensor> student, Map<String, Tensor> out, String headPrefix) {
        assertEquals(List.copyOf(student.keySet()), List.copyOf(out.keySet()), "same names, in the student's order");
        made.addAll(out.values());
        for (var e : out.entrySet()) {
            String name = e.getKey();
            Tensor got = e.getValue();
            Tensor s = student.get(name);
            assertNotSame(s, got, name + " is a new tensor");
            assertArrayEquals(s.shape(), got.shape(), name);
            if (name.startsWith(headPrefix)) {
                assertArrayEquals(s.toFloats(), got.toFloats(), name + " keeps the student's own init");
                continue;
            }
            Tensor t = teacher.get(name);
            float[] expected = expectedSelection(t.toFloats(), t.shape(), halvingIndices(t.shape(), s.shape()));
            assertArrayEquals(expected, got.toFloats(), name);
        }
    }

    // ------------------------------------------------------------------ ViT

    @Test
    void vitSelectionTakesFirstBlocksAndEveryOtherChannel() {
        // Teacher depth 3, width 8 (2 heads) → student depth 2, width 4; 10 teacher classes, 5 student classes.
        Map<String, Tensor> teacher = vit(teacherDict(), 3, 8, 10).map;
        Map<String, Tensor> student = vit(studentDict(), 2, 4, 5).map;
        assertEquals(ViTFamily.INSTANCE, ModelFamily.ofMarker(teacher.keySet()));

        LinkedHashMap<String, Tensor> out = WeightSelection.select(teacher, student, ViTFamily.INSTANCE);
        checkAgainstHalving(teacher, student, out, "head.");

        // qkv weight [24, 8] → [12, 4]: rows 0, 2, …, 22 and columns 0, 2, 4, 6, as one tensor (not per head).
        float[] qkvT = teacher.get("blocks.1.attn.qkv.weight").toFloats();
        float[] qkvS = out.get("blocks.1.attn.qkv.weight").toFloats();
        assertArrayEquals(new int[] {12, 4}, out.get("blocks.1.attn.qkv.weight").shape());
        for (int r = 0; r < 12; r++)
            for (int c = 0; c < 4; c++)
                assertEquals(qkvT[(2 * r) * 8 + 2 * c], qkvS[r * 4 + c], "qkv[" + r + "][" + c + "]");
        // The first student row of k (row 4) is teacher row 8, the first row of the teacher's k.
        assertEquals(qkvT[8 * 8], qkvS[4 * 4]);

        // pos_embed [1, 5, 8] → [1, 5, 4]: every token, channels 0, 2, 4, 6.
        float[] posT = teacher.get("pos_embed").toFloats();
        float[] posS = out.get("pos_embed").toFloats();
        for (int tok = 0; tok < 5; tok++)
            for (int c = 0; c < 4; c++) assertEquals(posT[tok * 8 + 2 * c], posS[tok * 4 + c]);

        // patch_embed.proj.weight [8, 1, 4, 4] → [4, 1, 4, 4]: output channels 0, 2, 4, 6, whole kernels.
        float[] peT = teacher.get("patch_embed.proj.weight").toFloats();
        float[] peS = out.get("patch_embed.proj.weight").toFloats();
        for (int oc = 0; oc < 4; oc++)
            for (int k = 0; k < 16; k++) assertEquals(peT[2 * oc * 16 + k], peS[oc * 16 + k]);

        // Student block i comes from teacher block i (first-N): blocks.1 ← blocks.1, and blocks.2 is unused.
        float t1 = teacher.get("blocks.1.norm1.weight").toFloats()[2];
        assertEquals(t1, out.get("blocks.1.norm1.weight").toFloats()[1]);
        assertFalse(out.containsKey("blocks.2.norm1.weight"));
        float[] block2 = teacher.get("blocks.2.mlp.fc1.weight").toFloats();
        for (Tensor t : out.values())
            for (float v : t.toFloats()) assertTrue(v < block2[0] || v > block2[block2.length - 1], "a value from teacher blocks.2 in the output");

        // The head is the student's own tensor, copied.
        assertArrayEquals(student.get("head.weight").toFloats(), out.get("head.weight").toFloats());
        assertArrayEquals(new int[] {5, 4}, out.get("head.weight").shape());
        assertTrue(out.get("head.bias").toFloats()[0] < 0, "student values are negative");
    }

    @Test
    void vitNonDivisibleWidthUsesLinspaceEverywhere() {
        // Width 10 → 4 keeps channels 0, 3, 6, 9 in every tensor; mlp 40 → 16 keeps round(linspace(0, 39, 16)).
        Map<String, Tensor> teacher = vit(teacherDict(), 1, 10, 3).map;
        Map<String, Tensor> student = vit(studentDict(), 1, 4, 3).map;
        LinkedHashMap<String, Tensor> out = WeightSelection.select(teacher, student, ViTFamily.INSTANCE);
        made.addAll(out.values());

        int[] ch = {0, 3, 6, 9};
        assertArrayEquals(expectedSelection(teacher.get("norm.weight").toFloats(), new int[] {10}, new int[][] {ch}),
                out.get("norm.weight").toFloats());
        assertArrayEquals(expectedSelection(teacher.get("pos_embed").toFloats(), new int[] {1, 5, 10}, new int[][] {{0}, all(5), ch}),
                out.get("pos_embed").toFloats());
        // qkv 30 → 12: linspace(0, 29, 12) = 29k/11 = 0, 2.64, 5.27, 7.91, 10.55, 13.18, 15.82, 18.45, 21.09, 23.73, 26.36, 29
        int[] qkvRows = {0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29};
        assertArrayEquals(expectedSelection(teacher.get("blocks.0.attn.qkv.weight").toFloats(), new int[] {30, 10}, new int[][] {qkvRows, ch}),
                out.get("blocks.0.attn.qkv.weight").toFloats());
        // fc1 40 → 16: linspace(0, 39, 16) = 2.6k → 0, 2.6, 5.2, 7.8, 10.4, 13, 15.6, 18.2, 20.8, 23.4, 26, 28.6, 31.2, 33.8, 36.4, 39
        int[] hidden = {0, 3, 5, 8, 10, 13, 16, 18, 21, 23, 26, 29, 31, 34, 36, 39};
        assertArrayEquals(expectedSelection(teacher.get("blocks.0.mlp.fc2.weight").toFloats(), new int[] {10, 40}, new int[][] {ch, hidden}),
                out.get("blocks.0.mlp.fc2.weight").toFloats());
    }

    // ------------------------------------------------------------------ CifarResNet

    @Test
    void cifarResNetSelectionTakesFirstBlockOfEachStage() {
        // Teacher 3 blocks per stage, channels 16/32/64 → student 1 block per stage, 8/16/32.
        Map<String, Tensor> teacher = resnet(teacherDict(), 3, 16, 10).map;
        Map<String, Tensor> student = resnet(studentDict(), 1, 8, 10).map;
        assertEquals(ResNetFamily.INSTANCE, ModelFamily.ofMarker(student.keySet()));

        LinkedHashMap<String, Tensor> out = WeightSelection.select(teacher, student, ResNetFamily.INSTANCE);
        checkAgainstHalving(teacher, student, out, "fc.");

        // layer2.0.conv1.weight [32, 16, 3, 3] → [16, 8, 3, 3]: out channels 0, 2, …, in channels 0, 2, …, 3×3 kept.
        float[] cT = teacher.get("layer2.0.conv1.weight").toFloats();
        float[] cS = out.get("layer2.0.conv1.weight").toFloats();
        for (int o = 0; o < 16; o++)
            for (int i = 0; i < 8; i++)
                for (int k = 0; k < 9; k++)
                    assertEquals(cT[((2 * o) * 16 + 2 * i) * 9 + k], cS[(o * 8 + i) * 9 + k]);
        // The stem keeps its 3 input channels.
        assertArrayEquals(new int[] {8, 3, 3, 3}, out.get("conv1.weight").shape());

        // BatchNorm running statistics are selected too.
        float[] rvT = teacher.get("layer3.0.bn2.running_var").toFloats();
        float[] rvS = out.get("layer3.0.bn2.running_var").toFloats();
        for (int c = 0; c < 32; c++) assertEquals(rvT[2 * c], rvS[c]);

        // Only the first block of each stage exists in the student; the head is the student's own.
        assertFalse(out.containsKey("layer1.1.conv1.weight"));
        assertArrayEquals(student.get("fc.weight").toFloats(), out.get("fc.weight").toFloats());
        assertArrayEquals(student.get("fc.bias").toFloats(), out.get("fc.bias").toFloats());
    }

    @Test
    void inputsUnchangedAndOutputsOutliveScopes() {
        Map<String, Tensor> teacher = resnet(teacherDict(), 2, 16, 10).map;
        Map<String, Tensor> student = resnet(studentDict(), 1, 8, 10).map;
        float[] teacherBefore = teacher.get("layer1.0.conv1.weight").toFloats();
        float[] studentBefore = student.get("layer1.0.conv1.weight").toFloats();
        LinkedHashMap<String, Tensor> out;
        try (Scope scope = Scope.open()) {
            out = WeightSelection.select(teacher, student); // family inferred
        }
        made.addAll(out.values());
        for (Tensor t : out.values()) assertFalse(t.isClosed(), "outputs are created outside the scope");
        assertEquals(teacherBefore[0], out.get("layer1.0.conv1.weight").toFloats()[0]);
        assertArrayEquals(teacherBefore, teacher.get("layer1.0.conv1.weight").toFloats());
        assertArrayEquals(studentBefore, student.get("layer1.0.conv1.weight").toFloats());
    }

    // ------------------------------------------------------------------ errors

    @Test
    void inferNamesWhatItExpected() {
        var e = assertThrows(IllegalArgumentException.class, () -> ModelFamily.ofMarker(Set.of("encoder.weight", "decoder.bias")));
        assertTrue(e.getMessage().contains("patch_embed.proj.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("layer1.0.conv1.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("encoder.weight"), e.getMessage());
    }

    @Test
    void familiesDiffer() {
        Map<String, Tensor> teacher = vit(teacherDict(), 1, 8, 10).map;
        Map<String, Tensor> student = resnet(studentDict(), 1, 8, 10).map;
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, student, ResNetFamily.INSTANCE));
        assertTrue(e.getMessage().contains("VIT") && e.getMessage().contains("CIFAR_RESNET"), e.getMessage());

        Map<String, Tensor> teacher2 = resnet(teacherDict(), 2, 16, 10).map;
        var e2 = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher2, student, ViTFamily.INSTANCE));
        assertTrue(e2.getMessage().contains("VIT") && e2.getMessage().contains("CIFAR_RESNET"), e2.getMessage());
    }

    @Test
    void studentDeeperThanTeacherNamesTheMissingTensor() {
        Map<String, Tensor> teacher = vit(teacherDict(), 2, 8, 10).map;
        Map<String, Tensor> student = vit(studentDict(), 3, 4, 10).map;
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, student, ViTFamily.INSTANCE));
        assertTrue(e.getMessage().contains("'blocks.2.norm1.weight'"), e.getMessage());
        assertTrue(e.getMessage().contains("no teacher counterpart"), e.getMessage());
    }

    @Test
    void studentWiderThanTeacherNamesTensorDimensionAndShapes() {
        Map<String, Tensor> teacher = vit(teacherDict(), 1, 8, 10).map;
        Map<String, Tensor> student = vit(studentDict(), 1, 16, 10).map;
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, student, ViTFamily.INSTANCE));
        String m = e.getMessage();
        // The first non-head tensor in the student's order is cls_token [1, 1, 16] vs [1, 1, 8]: dimension 2.
        assertTrue(m.contains("'cls_token'"), m);
        assertTrue(m.contains("dimension 2"), m);
        assertTrue(m.contains("[1, 1, 16]") && m.contains("[1, 1, 8]"), m);
    }

    @Test
    void rankMismatchNamesTensorAndShapes() {
        Map<String, Tensor> teacher = resnet(teacherDict(), 1, 16, 10).map;
        Dict s = resnet(studentDict(), 1, 8, 10);
        Tensor flat = Tensor.of(CPU, new float[8 * 3 * 9], 8, 27);
        made.add(flat);
        s.map.put("conv1.weight", flat); // keeps its position in the map
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, s.map, ResNetFamily.INSTANCE));
        String m = e.getMessage();
        assertTrue(m.contains("'conv1.weight'") && m.contains("rank"), m);
        assertTrue(m.contains("[8, 27]") && m.contains("[16, 3, 3, 3]"), m);
    }

    @Test
    void posEmbedTokenCountsMustMatch() {
        Map<String, Tensor> teacher = vit(teacherDict(), 1, 8, 10).map;
        Dict s = vit(studentDict(), 1, 4, 10);
        Tensor pos = Tensor.of(CPU, new float[17 * 4], 1, 17, 4);
        made.add(pos);
        s.map.put("pos_embed", pos);
        var e = assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, s.map, ViTFamily.INSTANCE));
        String m = e.getMessage();
        assertTrue(m.contains("pos_embed") && m.contains("[1, 17, 4]") && m.contains("[1, 5, 8]"), m);
        assertTrue(m.contains("tokens"), m);
    }

    @Test
    void errorsCreateNoTensors() {
        Map<String, Tensor> teacher = vit(teacherDict(), 1, 8, 10).map;
        Map<String, Tensor> student = vit(studentDict(), 2, 4, 10).map;
        long before = CPU.memory().liveBytes();
        assertThrows(IllegalArgumentException.class, () -> WeightSelection.select(teacher, student, ViTFamily.INSTANCE));
        assertEquals(before, CPU.memory().liveBytes());
    }
}
