package dma.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Backend;
import dma.engine.cpu.CpuBackend;
import dma.models.assemble.Partition;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Walks every registered family and each of its presets: what a family says about itself must agree with the models it
 * builds. A new family registered in {@link FamilyRegistry} is checked here without changing this test (unless state
 * dicts cannot tell one of its fields: {@link #UNTOLD}).
 */
class ModelFamilyTest {
    private static final Backend BE = CpuBackend.get();

    /**
     * Fields that a state dict's names and shapes do not tell, by family; inference fixes them (ModelFamily#infer). A
     * ViT's num_heads is not among them: the test passes it, as a user must. Drop path is 0 after inference in every family.
     */
    private static final Map<String, Set<String>> UNTOLD = Map.of("convnext", Set.of("img_size"));

    @Test
    void registryFindsEveryFamilyByNameAliasArchitectureAndMarker() {
        Set<String> names = new HashSet<>(), markers = new HashSet<>();
        for (ModelFamily<?> f : ModelFamily.all()) {
            assertTrue(names.add(f.name()), "two families called " + f.name());
            for (String alias : f.aliases()) assertTrue(names.add(alias), "name or alias " + alias + " twice");
            assertTrue(markers.add(f.marker()), "two families with marker " + f.marker());
            assertSame(f, ModelFamily.of(f.name()));
            for (String alias : f.aliases()) assertSame(f, ModelFamily.of(alias));
            assertEquals(f.name(), f.toString(), "a family prints as its name (plan and eval output, Partition.toString)");
            assertTrue(List.of("adamw", "sgd").contains(f.defaultOptimizer()), f + ": " + f.defaultOptimizer());
            assertFalse(f.presets().isEmpty(), f + " has no presets");
        }
        assertEquals(List.of("vit", "cifar_resnet", "convnext"), ModelFamily.names());
        assertSame(ModelFamily.of("cifar_resnet"), ModelFamily.of("resnet"), "checkpoint metadata of bench/peers says 'resnet'");
        var e = assertThrows(IllegalArgumentException.class, () -> ModelFamily.of("mlp_mixer"));
        assertTrue(e.getMessage().contains("mlp_mixer") && e.getMessage().contains("vit, cifar_resnet, convnext"), e.getMessage());
    }

    @Test
    void everyPresetBelongsToOneFamilyAndRoundTripsThroughItsMetadata() throws Exception {
        Set<String> seen = new HashSet<>();
        for (ModelFamily<?> f : ModelFamily.all())
            for (String name : f.presets()) {
                assertTrue(seen.add(name), "preset " + name + " twice");
                for (ModelFamily<?> other : ModelFamily.all())
                    assertEquals(other == f, other.claimsPreset(name), other + " claims " + name);
                Architecture a = ModelFamily.resolvePreset(name);
                assertSame(f, a.family(), name);
                assertSame(f, ModelFamily.of(a));
                assertEquals(a, f.preset(name.toUpperCase(Locale.ROOT)), "preset names are case-insensitive");
                Map<String, Object> map = a.toMap();
                assertEquals(f.name(), map.get("model"), name);
                assertEquals(a, f.fromMap(map), name + ": toMap → fromMap");
                // through JSON, as a checkpoint stores it
                String json = new ObjectMapper().writeValueAsString(map);
                assertEquals(a, Checkpoint.fromJson(Path.of(name + ".safetensors"), json), name + ": through a checkpoint's JSON");
                // a preset with no overrides is the preset
                assertEquals(a, ModelFamily.resolvePreset(name, Map.of()));
            }
        var e = assertThrows(IllegalArgumentException.class, () -> ModelFamily.resolvePreset("resnext50"));
        for (ModelFamily<?> f : ModelFamily.all())
            for (String name : f.presets()) assertTrue(e.getMessage().contains(name), e.getMessage());
    }

    @Test
    void dropPathAndDefaultPartitionAreValidForEveryPreset() {
        for (ModelFamily<?> f : ModelFamily.all())
            for (String name : f.presets()) {
                Architecture a = f.preset(name);
                Architecture p = a.withDropPath(0.25);
                assertSame(f, p.family());
                if (a.toMap().containsKey("drop_path_rate")) {
                    assertEquals(0.25, p.toMap().get("drop_path_rate"), name);
                    assertEquals(a, p.withDropPath((Double) a.toMap().get("drop_path_rate")), name);
                } else {
                    assertSame(a, p, name + ": a family without drop path returns itself");
                }
                Partition partition = Partition.equal(a, f.defaultModules());
                assertEquals(f.defaultModules(), partition.modules(), name);
                int[] shape = a.inputShape(5);
                assertEquals(4, shape.length, name);
                assertEquals(5, shape[0], name);
                assertEquals(a.toMap().getOrDefault("in_chans", 3), shape[1], name);
            }
    }

    /**
     * Builds models and reads their architecture back from the state dict's names and shapes, as a checkpoint without
     * metadata is read: the family found by its marker is the model's, and the architecture is the model's except for
     * what shapes cannot tell. Every family's first preset is built whole; every preset is built as its meta model (one
     * block per default module: its widths, patch, channels and classes at a fraction of the cost — DeiT-B and the
     * ConvNeXt-T variants take seconds each to initialize on two cores).
     */
    @Test
    void inferenceFromAStateDictGivesTheArchitectureBack() {
        for (ModelFamily<?> f : ModelFamily.all()) {
            checkInference(f, f.preset(f.presets().get(0)));
            for (String name : f.presets()) checkInference(f, Partition.equal(f.preset(name), f.defaultModules()).meta());
        }
    }

    private static void checkInference(ModelFamily<?> f, Architecture a) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        long values = 0;
        try (ImageClassifier m = a.build(BE, 0)) {
            for (var e : m.stateDict().entrySet()) {
                shapes.put(e.getKey(), e.getValue().shape());
                values += e.getValue().numel();
            }
        }
        assertEquals(values, a.stateElements(), a + ": the state dict's size from the shape alone (what Checkpoint.load checks a file against)");
        assertSame(f, ModelFamily.ofMarker(shapes.keySet()), a + ": the family by its marker");
        Integer heads = (Integer) a.toMap().get("num_heads");
        Architecture inferred = Checkpoint.infer(Path.of("state.safetensors"), shapes, heads);
        Map<String, Object> expected = new HashMap<>(a.withDropPath(0).toMap());
        for (String untold : UNTOLD.getOrDefault(f.name(), Set.of())) expected.put(untold, inferred.toMap().get(untold));
        assertEquals(f.fromMap(expected), inferred, a.toString());
    }

    /**
     * One reader for every family: numbers given as strings are read as numbers; an int field given a fraction or a
     * non-number is an error naming the family's config and the field.
     */
    @Test
    void everyFamilyReadsNumbersAndNumericStringsTheSameWay() {
        for (ModelFamily<?> f : ModelFamily.all()) {
            Architecture a = f.preset(f.presets().get(0));
            Map<String, Object> map = a.toMap();
            Map<String, Object> strings = new HashMap<>();
            map.forEach((k, v) -> strings.put(k, v instanceof List<?> l ? l.stream().map(String::valueOf).toList()
                    : v instanceof Number ? String.valueOf(v) : v));
            assertEquals(a, f.fromMap(strings), f + ": every number given as a string");
            Map<String, Object> doubles = new HashMap<>();
            map.forEach((k, v) -> doubles.put(k, v instanceof Integer i ? (double) i : v));
            assertEquals(a, f.fromMap(doubles), f + ": whole numbers given as 224.0");

            String config = null;
            for (var e : map.entrySet()) {
                String key = e.getKey();
                List<Object> bad = new ArrayList<>();
                if (e.getValue() instanceof Integer i) bad.addAll(List.of(i + 0.5, String.valueOf(i + 0.5), "many", true, List.of(i)));
                else if (e.getValue() instanceof Double) bad.addAll(List.of("many", false));
                else if (e.getValue() instanceof List<?> l) {
                    List<Object> fraction = new ArrayList<>(l);
                    fraction.set(0, ((Integer) l.get(0)) + 0.5);
                    List<Object> word = new ArrayList<>(l);
                    word.set(0, "many");
                    bad.addAll(List.of(fraction, word, l.subList(1, l.size()), 7));
                }
                for (Object v : bad) {
                    Map<String, Object> broken = new HashMap<>(map);
                    broken.put(key, v);
                    var err = assertThrows(IllegalArgumentException.class, () -> f.fromMap(broken), f + ": " + key + " = " + v);
                    String msg = err.getMessage();
                    assertTrue(msg.contains("field '" + key + "'"), msg);
                    String prefix = msg.substring(0, msg.indexOf(": field '"));
                    if (config == null) config = prefix;
                    assertEquals(config, prefix, "every message of a family names its config the same way");
                }
            }
            assertTrue(config != null && config.endsWith(" config"), f + ": " + config);
            Map<String, Object> missing = new HashMap<>(map);
            missing.remove("num_classes");
            var err = assertThrows(IllegalArgumentException.class, () -> f.fromMap(missing));
            assertEquals(config + ": field 'num_classes' is missing", err.getMessage());
        }
    }
}
