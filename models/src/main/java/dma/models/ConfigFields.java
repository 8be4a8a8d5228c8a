package dma.models;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.function.ToIntFunction;

/**
 * The one reader of a config's metadata map (checkpoint metadata, a run config's {@code model} section), with one
 * behaviour for every family:
 * <ul>
 *   <li>a number may be given as a JSON number or as a string holding one ({@code "224"}, {@code "0.1"}): checkpoint
 *       metadata written by other tools may carry numbers as strings;</li>
 *   <li>where an int is required the number must be whole ({@code 224} or {@code 224.0}, not {@code 224.5});</li>
 *   <li>a field that is absent or null takes its default if it has one, else is an error;</li>
 *   <li>every error is an {@link IllegalArgumentException} naming the family's config and the field
 *       ("ViT config: field 'depth' must be a whole number, got 2.5");</li>
 *   <li>fields the family does not read are ignored.</li>
 * </ul>
 *
 * <p>A family describes each of its fields once, as a {@link Field}: its name, how it is read and which component of
 * the config it writes. {@link #toMap} writes a config through the same fields that {@link #get} reads.
 */
public final class ConfigFields {
    private final String owner;
    private final Map<String, ?> map;

    /** {@code owner} starts every message: "ViT config", "ResNet config", "ConvNeXt config". */
    public ConfigFields(String owner, Map<String, ?> map) {
        this.owner = owner;
        this.map = map;
    }

    /** Whether the field is given (present and not null). */
    public boolean has(Field<?, ?> field) {
        return map.get(field.name) != null;
    }

    /** The field's value: read from the map, or its default where it is absent. */
    public <T> T get(Field<?, T> field) {
        Object v = map.get(field.name);
        if (v == null) {
            if (field.fallback == null) throw error(field.name, "is missing");
            return field.fallback;
        }
        return field.reader.read(this, field.name, v);
    }

    private IllegalArgumentException error(String field, String problem) {
        return new IllegalArgumentException(owner + ": field '" + field + "' " + problem);
    }

    /** A number or a string holding one; null if {@code v} is neither. */
    private static Double number(Object v) {
        if (v instanceof Number n) return n.doubleValue();
        if (v instanceof String s)
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                return null;
            }
        return null;
    }

    private static boolean whole(double d) {
        return d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE;
    }

    private double readDouble(String field, Object v) {
        Double d = number(v);
        if (d == null) throw error(field, "must be a number, got '" + v + "'");
        return d;
    }

    private int readInt(String field, Object v) {
        double d = readDouble(field, v);
        if (!whole(d)) throw error(field, "must be a whole number, got " + v);
        return (int) d;
    }

    private int[] readInts(String field, Object v, int length, String each) {
        if (v instanceof int[] a && a.length == length) return a.clone();
        if (!(v instanceof List<?> l) || l.size() != length)
            throw error(field, "must list " + length + " numbers (" + each + "), got " + (v instanceof int[] a ? Arrays.toString(a) : v));
        int[] out = new int[length];
        for (int i = 0; i < length; i++) {
            Double d = number(l.get(i));
            if (d == null || !whole(d)) throw error(field, "must list " + length + " whole numbers, got " + l);
            out[i] = (int) (double) d;
        }
        return out;
    }

    /** How a field's present value becomes its Java value. */
    private interface Reader<T> {
        T read(ConfigFields fields, String name, Object value);
    }

    /**
     * One field of a config {@code C} in metadata: its name (timm's argument name), its default (null: required), how it
     * is read, and the config component it is written from.
     */
    public static final class Field<C, T> {
        private final String name;
        private final T fallback;
        private final Reader<T> reader;
        private final Function<C, Object> writer;

        private Field(String name, T fallback, Reader<T> reader, Function<C, Object> writer) {
            this.name = name;
            this.fallback = fallback;
            this.reader = reader;
            this.writer = writer;
        }

        public String name() {
            return name;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** A required whole number. */
    public static <C> Field<C, Integer> integer(String name, ToIntFunction<C> component) {
        return new Field<>(name, null, (f, n, v) -> f.readInt(n, v), c -> component.applyAsInt(c));
    }

    /** A whole number that is {@code fallback} where absent. */
    public static <C> Field<C, Integer> integer(String name, int fallback, ToIntFunction<C> component) {
        return new Field<>(name, fallback, (f, n, v) -> f.readInt(n, v), c -> component.applyAsInt(c));
    }

    /** A number that is {@code fallback} where absent. */
    public static <C> Field<C, Double> decimal(String name, double fallback, ToDoubleFunction<C> component) {
        return new Field<>(name, fallback, (f, n, v) -> f.readDouble(n, v), c -> component.applyAsDouble(c));
    }

    /** A required list of {@code length} whole numbers; {@code each} says what one is ("one per stage"). */
    public static <C> Field<C, int[]> ints(String name, int length, String each, Function<C, int[]> component) {
        return new Field<>(name, null, (f, n, v) -> f.readInts(n, v, length, each), c -> {
            int[] a = component.apply(c);
            return Arrays.stream(a).boxed().toList();
        });
    }

    /**
     * The metadata map of {@code config}: {@code "model"} = {@code family}, then every field in order (int lists as
     * lists of numbers). Unmodifiable, in that order.
     */
    @SafeVarargs
    public static <C> Map<String, Object> toMap(String family, C config, Field<C, ?>... fields) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", family);
        for (Field<C, ?> f : fields) m.put(f.name, f.writer.apply(config));
        return Collections.unmodifiableMap(m);
    }
}
