package dma.models;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.Backend;
import dma.engine.Tensor;
import dma.engine.io.HostTensor;
import dma.engine.io.Safetensors;
import dma.engine.io.TensorFiles;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model checkpoints: a safetensors file of the state dict under timm names, with metadata
 * {@code config} (the architecture as JSON), {@code stage} and {@code step}. Files written by timm or
 * PyTorch without that metadata load too: the architecture is inferred from names and shapes.
 */
public final class Checkpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoint() {}

    /** A loaded model with the file's metadata. */
    public record Loaded(ImageClassifier model, Architecture architecture, Map<String, String> metadata) {}

    /** Writes atomically (temp file, fsync, rename). */
    public static void save(Path file, ImageClassifier model, String stage, long step, Map<String, String> extra) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "dma-checkpoint-1");
        meta.put("config", toJson(model.architecture().toMap()));
        meta.put("stage", stage);
        meta.put("step", Long.toString(step));
        if (extra != null) meta.putAll(extra);
        TensorFiles.save(file, model.stateDict(), meta);
    }

    /**
     * Loads a checkpoint and builds its model on {@code backend}. {@code heads} is needed only for a ViT file without our
     * metadata (shapes do not tell the head count); otherwise it may be null. A file that cannot be read is a
     * {@link dma.engine.io.SafetensorsException}; one whose architecture cannot be known, or whose tensors do not fill
     * that architecture's model, an IllegalArgumentException; both name the file. The model is built only after its size
     * is checked against the file's, so a file cannot make this allocate more than it holds.
     */
    public static Loaded load(Path file, Backend backend, Integer heads) {
        Safetensors.Loaded raw = Safetensors.read(file);
        Map<String, int[]> shapes = new LinkedHashMap<>();
        long values = 0;
        for (var e : raw.tensors().entrySet()) {
            shapes.put(e.getKey(), intShape(file, e.getKey(), e.getValue()));
            values += e.getValue().numel(); // no overflow: each tensor's bytes are in the file
        }
        String config = raw.metadata().get("config");
        Architecture arch = config != null ? fromJson(file, config) : infer(file, shapes, heads);
        long needed = arch.stateElements();
        if (needed > values)
            throw new IllegalArgumentException(file + ": the model it describes " + arch.toMap() + " has " + needed + " values but its "
                    + shapes.size() + " tensors hold only " + values + (config != null ? ": tensors are missing, or metadata 'config' does not match them"
                    : ": tensors are missing"));
        ImageClassifier model = arch.build(backend, 0);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            raw.tensors().forEach((k, v) -> tensors.put(k, TensorFiles.fromHost(backend, v)));
            model.load(tensors, file.toString(), true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        } finally {
            tensors.values().forEach(Tensor::close);
        }
        return new Loaded(model, arch, raw.metadata());
    }

    @SuppressWarnings("unchecked")
    static Architecture fromJson(Path file, String json) {
        Map<String, Object> m;
        try {
            m = JSON.readValue(json, Map.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": metadata 'config' is not valid JSON: " + oneLine(e.getOriginalMessage()));
        }
        if (m == null) throw new IllegalArgumentException(file + ": metadata 'config' is null, expected a JSON object");
        Object model = m.get("model");
        ModelFamily<?> family = model instanceof String name ? ModelFamily.find(name).orElse(null) : null;
        if (family == null) {
            List<String> names = ModelFamily.names();
            int last = names.size() - 1;
            String expected = (last > 0 ? "'" + String.join("', '", names.subList(0, last)) + "' or " : "") + "'" + names.get(last) + "'";
            throw new IllegalArgumentException(file + ": metadata 'config' has model '" + model + "'; expected " + expected);
        }
        try {
            return family.fromMap(m);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": metadata 'config': " + e.getMessage(), e);
        }
    }

    /**
     * The architecture that tensor names and shapes describe (a timm ViT, a CIFAR ResNet or a timm ConvNeXt): the family
     * whose marker tensor is present ({@link ModelFamily#ofMarker}) reads it ({@link ModelFamily#infer}, which says what
     * shapes cannot tell). Errors name the file.
     */
    public static Architecture infer(Path file, Map<String, int[]> shapes, Integer heads) {
        try {
            return ModelFamily.ofMarker(shapes.keySet()).infer(shapes, heads);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** The shape as ints; a dimension beyond an int (a file may hold one when another dimension is 0) is an error naming the tensor. */
    private static int[] intShape(Path file, String name, HostTensor t) {
        int[] s = new int[t.shape().length];
        for (int i = 0; i < s.length; i++) {
            if (t.shape()[i] > Integer.MAX_VALUE)
                throw new IllegalArgumentException(file + ": tensor '" + name + "' has shape " + java.util.Arrays.toString(t.shape())
                        + ", a dimension beyond " + Integer.MAX_VALUE);
            s[i] = (int) t.shape()[i];
        }
        return s;
    }

    /** Jackson's message without the excerpt of the input it appends on further lines. */
    private static String oneLine(String message) {
        return message == null ? "" : message.lines().findFirst().orElse("");
    }

    private static String toJson(Map<String, Object> m) {
        try {
            return JSON.writeValueAsString(new java.util.TreeMap<>(m));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
