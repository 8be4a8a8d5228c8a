package dma.trainer.study;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A study: a base run config and axes, each a config field (a dotted path such as {@code model.depth},
 * {@code data.train_fraction}, {@code budget.e2e_epochs}, {@code stages.finetune.base_lr}, {@code seed}) with the values
 * it takes. It expands into the cartesian product of the axes, one ordinary run per cell, each in its own run directory
 * under {@code runs}; a finished run's small files (summary, resolved config, metrics) are copied into {@code results},
 * which outlives the machine (commit it), and a run whose summary is there is not run again.
 *
 * <pre>{
 *   "name": "depth",
 *   "base": "base.json",                       // a config file (relative to the study file), or the config itself
 *   "axes": {"model.depth": [8, 16], "seed": [0, 1],
 *            "size": {"data.train_fraction": [0.1, 0.25], "budget.e2e_epochs": [30, 12]}},   // fields that change together
 *   "runs": "runs/study/depth",                // default: runs/study/NAME (relative to the working directory)
 *   "results": "bench/results/science/depth"   // default: bench/results/science/NAME
 * }</pre>
 *
 * An axis given as an object of fields with lists of equal length sets those fields together, value i of each in
 * its i-th cell (a data size and its epochs, say); it is named by its key, and its first field's value stands for it in
 * cell names and the report.
 *
 * @param file   the study file (its directory resolves {@code base})
 * @param axes   each axis's values (a linked axis: its first field's)
 * @param linked the linked axes: per value, every field it sets
 */
public record Study(Path file, String name, ObjectNode base, Map<String, List<JsonNode>> axes, Map<String, List<Map<String, JsonNode>>> linked,
                    Path runs, Path results) {
    static final ObjectMapper JSON = new ObjectMapper();
    /** The axis whose cells are repetitions of one experiment: the report averages over it. */
    public static final String SEED = "seed";
    private static final Set<String> FIELDS = Set.of("name", "base", "set", "axes", "runs", "results");

    /**
     * One run of the study.
     *
     * @param name   its directory's name: the axes' labels and values, e.g. {@code depth-16_seed-0}
     * @param values the value of every axis, by axis
     * @param config the base config with the cell's values set
     */
    public record Cell(String name, Map<String, JsonNode> values, ObjectNode config) {
        /** The cell's values without the seed: the experiment it repeats. */
        public Map<String, JsonNode> experiment() {
            Map<String, JsonNode> m = new LinkedHashMap<>(values);
            m.remove(SEED);
            return m;
        }
    }

    /** Reads a study file; every problem is an IllegalArgumentException naming the file and the field. */
    public static Study read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
        }
        if (!(root instanceof ObjectNode o)) throw new IllegalArgumentException(file + ": a study is a JSON object");
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) throw new IllegalArgumentException(file + ": unknown field '" + f + "'; a study has " + FIELDS);
        }
        String name = text(file, o, "name");
        if (!name.matches("[A-Za-z0-9._-]+")) throw new IllegalArgumentException(file + ": field 'name' must be letters, digits, '.', '_' or '-', got '" + name + "'");
        JsonNode b = o.get("base");
        ObjectNode base;
        if (b instanceof ObjectNode inline) base = inline.deepCopy();
        else if (b != null && b.isTextual()) {
            Path f = file.toAbsolutePath().getParent().resolve(b.asText());
            try {
                JsonNode read = JSON.readTree(f.toFile());
                if (!(read instanceof ObjectNode ro)) throw new IllegalArgumentException(f + ": a run config is a JSON object");
                base = ro;
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ": field 'base': cannot read " + f + ": " + e.getMessage());
            }
        } else throw new IllegalArgumentException(file + ": field 'base' must be a run config (an object) or the path of one");
        // "set": fields every cell shares that differ from the base (e.g. "baselines": [] for a study of assembling alone)
        JsonNode fixed = o.get("set");
        if (fixed != null && !(fixed instanceof ObjectNode)) throw new IllegalArgumentException(file + ": field 'set' must be an object of field path → value");
        if (fixed != null)
            for (Iterator<Map.Entry<String, JsonNode>> it = fixed.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getKey().matches("[a-z0-9_]+(\\.[a-z0-9_]+)*"))
                    throw new IllegalArgumentException(file + ": set: '" + e.getKey() + "' is not a config field path such as model.depth");
                set(base, e.getKey(), e.getValue());
            }
        Map<String, List<JsonNode>> axes = new LinkedHashMap<>();
        Map<String, List<Map<String, JsonNode>>> linked = new LinkedHashMap<>();
        JsonNode a = o.get("axes");
        if (a != null && !(a instanceof ObjectNode)) throw new IllegalArgumentException(file + ": field 'axes' must be an object of field → values");
        if (a != null)
            for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getValue() instanceof ObjectNode fields) {
                    if (!e.getKey().matches("[a-z0-9_]+")) throw new IllegalArgumentException(file + ": linked axis '" + e.getKey() + "' needs a plain name");
                    List<Map<String, JsonNode>> settings = null;
                    for (Iterator<Map.Entry<String, JsonNode>> f = fields.fields(); f.hasNext(); ) {
                        var field = f.next();
                        List<JsonNode> values = values(file, e.getKey() + "." + field.getKey(), field.getKey(), field.getValue());
                        if (settings == null) {
                            settings = new ArrayList<>();
                            for (JsonNode ignored : values) settings.add(new LinkedHashMap<>());
                        }
                        if (values.size() != settings.size())
                            throw new IllegalArgumentException(file + ": linked axis '" + e.getKey() + "': its fields must list as many values each");
                        for (int i = 0; i < values.size(); i++) settings.get(i).put(field.getKey(), values.get(i));
                    }
                    if (settings == null) throw new IllegalArgumentException(file + ": linked axis '" + e.getKey() + "' names no field");
                    linked.put(e.getKey(), settings);
                    // a linked axis reads as its first field's value (a data size), or as all of them where that repeats
                    List<JsonNode> first = settings.stream().map(s -> s.values().iterator().next()).toList();
                    boolean distinct = first.stream().distinct().count() == first.size();
                    axes.put(e.getKey(), distinct ? first : settings.stream()
                            .map(s -> (JsonNode) com.fasterxml.jackson.databind.node.TextNode.valueOf(String.join("+", s.values().stream().map(Study::valueText).toList())))
                            .toList());
                } else axes.put(e.getKey(), values(file, e.getKey(), e.getKey(), e.getValue()));
            }
        Path runs = Path.of(o.has("runs") ? text(file, o, "runs") : "runs/study/" + name);
        Path results = Path.of(o.has("results") ? text(file, o, "results") : "bench/results/science/" + name);
        Study study = new Study(file, name, base, axes, linked, runs, results);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (Cell c : study.cells())
            if (!names.add(c.name())) throw new IllegalArgumentException(file + ": two cells would be named " + c.name() + "; give each axis distinct values");
        return study;
    }

    /** An axis's values: a non-empty list, set at a config field path. */
    private static List<JsonNode> values(Path file, String axis, String path, JsonNode v) {
        if (!(v instanceof ArrayNode values) || values.isEmpty())
            throw new IllegalArgumentException(file + ": axis '" + axis + "' must list at least one value");
        if (!path.matches("[a-z0-9_]+(\\.[a-z0-9_]+)*"))
            throw new IllegalArgumentException(file + ": axis '" + axis + "': '" + path + "' is not a config field path such as model.depth");
        List<JsonNode> list = new ArrayList<>();
        values.forEach(list::add);
        return list;
    }

    private static String text(Path file, ObjectNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || !v.isTextual() || v.asText().isBlank()) throw new IllegalArgumentException(file + ": field '" + field + "' must be a non-empty string");
        return v.asText();
    }

    /** Every cell, in the order of the axes' cartesian product (the last axis varying fastest). */
    public List<Cell> cells() {
        List<Map<String, Integer>> combos = new ArrayList<>(List.of(new LinkedHashMap<>()));
        for (var axis : axes.entrySet()) {
            List<Map<String, Integer>> next = new ArrayList<>();
            for (Map<String, Integer> c : combos)
                for (int i = 0; i < axis.getValue().size(); i++) {
                    Map<String, Integer> m = new LinkedHashMap<>(c);
                    m.put(axis.getKey(), i);
                    next.add(m);
                }
            combos = next;
        }
        List<Cell> cells = new ArrayList<>();
        for (Map<String, Integer> combo : combos) {
            ObjectNode config = base.deepCopy();
            Map<String, JsonNode> values = new LinkedHashMap<>();
            combo.forEach((axis, i) -> {
                values.put(axis, axes.get(axis).get(i));
                if (linked.containsKey(axis)) linked.get(axis).get(i).forEach((path, v) -> set(config, path, v));
                else set(config, axis, axes.get(axis).get(i));
            });
            cells.add(new Cell(cellName(values), values, config));
        }
        return cells;
    }

    /** Sets a dotted path in a config tree, creating the objects on the way. */
    static void set(ObjectNode root, String path, JsonNode value) {
        String[] parts = path.split("\\.");
        ObjectNode o = root;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode child = o.get(parts[i]);
            if (child == null || child.isNull()) child = o.putObject(parts[i]);
            if (!(child instanceof ObjectNode co))
                throw new IllegalArgumentException("axis '" + path + "': '" + parts[i] + "' is not an object in the base config");
            o = co;
        }
        o.set(parts[parts.length - 1], value.deepCopy());
    }

    /** {@code depth-16_train_fraction-0.1_seed-0}: each axis by its last name (its whole path where two share one) and value. */
    String cellName(Map<String, JsonNode> values) {
        List<String> parts = new ArrayList<>();
        for (var e : values.entrySet()) parts.add(label(e.getKey()) + "-" + valueText(e.getValue()));
        return parts.isEmpty() ? "base" : String.join("_", parts);
    }

    /** An axis's short name: its last path element, unless another axis ends the same way. */
    public String label(String axis) {
        if (linked.containsKey(axis)) return axis;
        String last = axis.substring(axis.lastIndexOf('.') + 1);
        long same = axes.keySet().stream().filter(a -> a.substring(a.lastIndexOf('.') + 1).equals(last)).count();
        return same > 1 ? axis.replace('.', '-') : last;
    }

    /** A value as a file name's part: numbers and strings as written, lists joined with '+'. */
    public static String valueText(JsonNode v) {
        if (v.isArray()) {
            List<String> parts = new ArrayList<>();
            v.forEach(x -> parts.add(valueText(x)));
            return String.join("+", parts);
        }
        String s = v.isTextual() ? v.asText() : v.toString();
        return s.replaceAll("[^A-Za-z0-9.+-]", "_");
    }

    /** Writes a cell's config for its run: {@code <runs>/<cell>/study-config.json}. */
    public Path writeConfig(Cell cell) throws IOException {
        Path dir = Files.createDirectories(runs.resolve(cell.name()));
        Path f = dir.resolve("study-config.json");
        Files.writeString(f, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cell.config()) + "\n");
        return f;
    }
}
