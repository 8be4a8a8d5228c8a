package dma.engine.io;

import dma.engine.Backend;
import dma.engine.DType;
import dma.engine.Scope;
import dma.engine.Tensor;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Named tensors to and from safetensors files (float32 in memory; F32, BF16 or F16 on disk). */
public final class TensorFiles {
    private TensorFiles() {}

    /** Writes the tensors atomically, as F32 or BF16 as each tensor is stored. */
    public static void save(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        LinkedHashMap<String, HostTensor> host = new LinkedHashMap<>();
        for (var e : tensors.entrySet()) host.put(e.getKey(), toHost(e.getValue()));
        Safetensors.write(file, host, metadata);
    }

    public static HostTensor toHost(Tensor t) {
        int[] shape = t.shape();
        long[] longShape = new long[shape.length];
        for (int i = 0; i < shape.length; i++) longShape[i] = shape[i];
        if (t.dtype() == DType.F32) return HostTensor.f32(longShape, t.toFloats());
        long bytes = (long) t.numel() * t.dtype().bytes;
        byte[] raw = t.backend().downloadBytes(t.storage(), bytes);
        return new HostTensor(t.dtype().safetensorsName, longShape, raw);
    }

    /**
     * A float32 tensor (outside any scope) holding the file tensor's values; an IllegalArgumentException if a dimension
     * is beyond an int (a file may hold such a shape when another dimension is 0).
     */
    public static Tensor fromHost(Backend backend, HostTensor h) {
        int[] shape = new int[h.shape().length];
        for (int i = 0; i < shape.length; i++) {
            if (h.shape()[i] > Integer.MAX_VALUE)
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(h.shape()) + " has a dimension beyond " + Integer.MAX_VALUE);
            shape[i] = (int) h.shape()[i];
        }
        float[] values = h.toFloats();
        return Scope.persistent(() -> Tensor.of(backend, values, shape));
    }

    /**
     * Every tensor of the file, as float32 tensors in file order; the caller owns (closes) them. A file that cannot be
     * read, or holds a tensor that cannot be one of ours, is a {@link SafetensorsException} naming the file.
     */
    public static Map<String, Tensor> load(Path file, Backend backend) {
        Safetensors.Loaded loaded = Safetensors.read(file);
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (var e : loaded.tensors().entrySet()) {
                try {
                    out.put(e.getKey(), fromHost(backend, e.getValue()));
                } catch (IllegalArgumentException bad) {
                    throw new SafetensorsException(file + ": tensor '" + e.getKey() + "': " + bad.getMessage(), bad);
                }
            }
        } catch (RuntimeException | Error e) {
            out.values().forEach(Tensor::close); // what was built before the failure
            throw e;
        }
        return out;
    }
}
