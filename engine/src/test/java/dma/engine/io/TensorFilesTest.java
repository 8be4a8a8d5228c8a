package dma.engine.io;

import dma.engine.DType;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.ops.ElementwiseOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TensorFilesTest {
    @Test
    void tensorsRoundTripThroughAFile(@TempDir Path dir) {
        var be = CpuBackend.get();
        try (Scope s = Scope.open()) {
            Tensor w = Tensor.normal(be, 1, 0f, 1f, 3, 5);
            Tensor b = Tensor.uniform(be, 2, -1f, 1f, 7);
            Tensor half = ElementwiseOps.cast(w, DType.BF16);
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("blocks.0.attn.qkv.weight", w);
            m.put("blocks.0.attn.qkv.bias", b);
            m.put("half", half);
            Path f = dir.resolve("m.safetensors");
            TensorFiles.save(f, m, Map.of("stage", "meta"));
            Map<String, Tensor> back = TensorFiles.load(f, be);
            assertEquals(m.keySet(), back.keySet());
            assertArrayEquals(w.toFloats(), back.get("blocks.0.attn.qkv.weight").toFloats());
            assertArrayEquals(new int[]{3, 5}, back.get("blocks.0.attn.qkv.weight").shape());
            assertArrayEquals(b.toFloats(), back.get("blocks.0.attn.qkv.bias").toFloats());
            assertArrayEquals(ElementwiseOps.cast(half, DType.F32).toFloats(), back.get("half").toFloats());
            assertEquals("meta", Safetensors.read(f).metadata().get("stage"));
            back.values().forEach(Tensor::close);
        }
    }
}
