package dma.models;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.TreeSet;

/**
 * A model family (ViT, CifarResNet, ConvNeXt) as one object: everything the rest of the code needs to know about a
 * family beyond its {@link Architecture} (the shape of one model) — its name, its presets, its config in metadata maps,
 * how to recognise it and read its shape from a state dict of another tool, what weight selection does with its
 * tensors, and the training defaults that differ by family. Callers ask the family instead of testing the config's
 * class.
 *
 * <p>Every family is registered once, in {@link FamilyRegistry}; {@link #all}, {@link #of(String)},
 * {@link #ofMarker} and {@link #resolvePreset(String)} look there.
 *
 * @param <C> the family's config record
 */
public interface ModelFamily<C extends Architecture> {

    // ------------------------------------------------------------------ name

    /** The name in checkpoint metadata and run configs ({@code "model": "vit"}): "vit", "cifar_resnet", "convnext". */
    String name();

    /** Other names read as this family (metadata written by other tools: "resnet"); never written. */
    default List<String> aliases() {
        return List.of();
    }

    // ------------------------------------------------------------------ presets

    /** The family's named presets (a family whose presets follow a pattern, as CifarResNet's, also overrides {@link #preset}). */
    Presets<C> presetTable();

    /** The names of this family's presets, for listings and messages. */
    default List<String> presets() {
        return presetTable().names();
    }

    /**
     * Whether {@code name} (any case) is one of this family's presets or has the form of one ("convnext_…",
     * "cifar_resnet…"): this family then resolves it with {@link #preset(String)} or says why it cannot.
     */
    boolean claimsPreset(String name);

    /** The preset called {@code name} (any case); an {@link IllegalArgumentException} naming the family's presets if none is. */
    default C preset(String name) {
        return presetTable().get(name);
    }

    // ------------------------------------------------------------------ metadata

    /** The config as metadata fields: {@code "model"} = {@link #name()}, then every field once. */
    Map<String, Object> toMap(C config);

    /**
     * The config that metadata fields describe (the inverse of {@link #toMap}), read through {@link ConfigFields};
     * the {@code "model"} field is not read. Errors name the family's config and the field.
     */
    C fromMap(Map<String, ?> fields);

    // ------------------------------------------------------------------ state dicts

    /** A tensor name only this family's state dicts have; its presence identifies the family ({@link #ofMarker}). */
    String marker();

    /**
     * The architecture that the tensor names and shapes of a state dict (with this family's {@link #marker}) describe.
     * What shapes cannot tell takes a fixed value: drop path 0; a ViT's head count is {@code heads}, which must then be
     * given; a ConvNeXt's image size is the smallest its stem takes, 8 × patch. Errors name the tensor.
     */
    C infer(Map<String, int[]> shapes, Integer heads);

    // ------------------------------------------------------------------ weight selection

    /** The prefix of the classifier head's tensors ("head.", "fc."), which keep the student's own initialization. */
    String headPrefix();

    /** Whether {@code tensor} is a parameter of the classifier head. */
    default boolean isHead(String tensor) {
        return tensor.startsWith(headPrefix());
    }

    /**
     * Whether weight selection selects the taps of a convolution kernel [out, in, kh, kw] like its channels. If not
     * (ConvNeXt), only its channels are selected, and teacher and student must have the same kernel size.
     */
    default boolean selectsKernelTaps() {
        return true;
    }

    // ------------------------------------------------------------------ training defaults

    /** The optimizer when a run config names none: "adamw" or "sgd". */
    String defaultOptimizer();

    /** K, the number of modules, when a run config gives neither {@code modules} nor {@code divided_depths}. */
    int defaultModules();

    /**
     * The base learning rate this family's recipe uses with {@code optimizer} when a run config gives none, used as is
     * (not scaled by batch / 512); empty: the trainer's own default.
     */
    default OptionalDouble fixedBaseLr(String optimizer) {
        return OptionalDouble.empty();
    }

    // ------------------------------------------------------------------ registry

    /** Every registered family, in registration order. */
    static List<ModelFamily<?>> all() {
        return FamilyRegistry.FAMILIES;
    }

    /** The names of every family ("vit", "cifar_resnet", "convnext"), for messages. */
    static List<String> names() {
        return all().stream().map(ModelFamily::name).toList();
    }

    /** The family called {@code name} or one of its {@link #aliases}; empty if none is. */
    static Optional<ModelFamily<?>> find(String name) {
        for (ModelFamily<?> f : all()) if (f.name().equals(name) || f.aliases().contains(name)) return Optional.of(f);
        return Optional.empty();
    }

    /** The family called {@code name} or one of its aliases; an {@link IllegalArgumentException} naming the families if none is. */
    static ModelFamily<?> of(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException("unknown model family '" + name + "'; known: "
                + String.join(", ", names())));
    }

    /** The family of {@code architecture}. */
    static ModelFamily<?> of(Architecture architecture) {
        return architecture.family();
    }

    /** The one family whose {@link #marker} is among {@code tensorNames}; an error naming every marker if not exactly one is. */
    static ModelFamily<?> ofMarker(Set<String> tensorNames) {
        List<ModelFamily<?>> found = new ArrayList<>();
        for (ModelFamily<?> f : all()) if (tensorNames.contains(f.marker())) found.add(f);
        if (found.size() == 1) return found.get(0);
        StringBuilder expected = new StringBuilder();
        for (ModelFamily<?> f : all()) {
            if (expected.length() > 0) expected.append(" or ");
            expected.append('\'').append(f.marker()).append("' (").append(f.name()).append(')');
        }
        if (found.isEmpty()) {
            List<String> sorted = new ArrayList<>(new TreeSet<>(tensorNames));
            String preview = sorted.size() <= 5 ? sorted.toString() : sorted.subList(0, 5) + " … (" + (sorted.size() - 5) + " more)";
            throw new IllegalArgumentException("cannot infer the model family from " + tensorNames.size()
                    + " tensor names: expected " + expected + "; names begin " + preview);
        }
        throw new IllegalArgumentException("cannot infer the model family: the names contain the markers of "
                + found + " (expected exactly one of " + expected + ")");
    }

    /** The preset called {@code name} (any case), of whichever family claims it; an error listing every preset if none does. */
    static Architecture resolvePreset(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        for (ModelFamily<?> f : all()) if (f.claimsPreset(lower)) return f.preset(lower);
        List<String> known = new ArrayList<>();
        for (ModelFamily<?> f : all()) known.addAll(f.presets());
        throw new IllegalArgumentException("unknown preset '" + name + "'; known: " + String.join(", ", known));
    }

    /** The preset called {@code name} with some of its fields replaced by {@code overrides} (a run config's model section). */
    static Architecture resolvePreset(String name, Map<String, ?> overrides) {
        Architecture base = resolvePreset(name);
        Map<String, Object> fields = new HashMap<>(base.toMap());
        fields.putAll(overrides);
        return base.family().fromMap(fields);
    }

    /** The shape of tensor {@code key}, which must exist with rank {@code rank} (for {@link #infer}). */
    static int[] shape(Map<String, int[]> shapes, String key, int rank) {
        int[] s = shapes.get(key);
        if (s == null) throw new IllegalArgumentException("missing tensor '" + key + "'");
        if (s.length != rank)
            throw new IllegalArgumentException("tensor '" + key + "' has shape " + Arrays.toString(s) + ", expected rank " + rank);
        return s;
    }
}
