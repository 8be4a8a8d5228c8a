package dma.engine.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes the committed seed corpus of {@link ParsersFuzzTest}: small valid safetensors files and one file for each
 * known way of being malformed. They lie in {@code ParsersFuzzTestInputs/} itself, where Jazzer gives them to every fuzz
 * test of the class (its findings go into the per-method folders). Run only on request, from the module's folder:
 * {@code mvn test -pl engine -Dtest=ParsersFuzzSeeds -Ddma.fuzz.writeSeeds=true}; commit what it writes.
 */
@EnabledIfSystemProperty(named = "dma.fuzz.writeSeeds", matches = "true")
class ParsersFuzzSeeds {
    static final Path INPUTS = Path.of("src/test/resources/dma/engine/io/ParsersFuzzTestInputs");

    @Test
    void write() throws IOException {
        Files.createDirectories(INPUTS);
        for (var e : seeds().entrySet()) Files.write(INPUTS.resolve(e.getKey()), e.getValue());
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        byte[] four = floats(1, 2, 3, 4);
        // valid
        s.put("valid-f32-2x2.safetensors", file("{" + entry("w", "F32", "[2,2]", 0, 16) + "}", four));
        s.put("valid-metadata-bf16-f16.safetensors", file("{\"__metadata__\":{\"format\":\"pt\"}," + entry("a", "BF16", "[3]", 0, 6) + ","
                + entry("b", "F16", "[2,1]", 6, 10) + "}", new byte[]{0, 0x3f, 0, 0x40, 0, (byte) 0xc0, 0, 0x3c, 0, 0x7c}));
        s.put("valid-no-tensors.safetensors", file("{}", new byte[0]));
        s.put("valid-scalar-and-empty.safetensors", file("{" + entry("s", "F32", "[]", 0, 4) + "," + entry("e", "F32", "[0,3]", 4, 4) + "}", floats(7)));
        s.put("valid-metadata-null.safetensors", file("{\"__metadata__\":null," + entry("w", "F16", "[1]", 0, 2) + "}", new byte[]{0, 0x3c}));
        // the length prefix
        s.put("too-short.safetensors", new byte[]{1, 2, 3});
        s.put("header-past-end.safetensors", raw(255, new byte[8]));
        s.put("header-claims-2pow40.safetensors", raw(1L << 40, "{}".getBytes(StandardCharsets.UTF_8)));
        s.put("header-length-negative.safetensors", raw(-1L, "{}".getBytes(StandardCharsets.UTF_8)));
        s.put("header-over-limit.safetensors", raw(100_000_001L, "{}".getBytes(StandardCharsets.UTF_8)));
        // the header
        s.put("header-not-utf8.safetensors", raw(2, new byte[]{(byte) 0xff, (byte) 0xfe}));
        s.put("header-not-json.safetensors", file("{not json", new byte[0]));
        s.put("header-json-array.safetensors", file("[1,2]", new byte[0]));
        s.put("header-leading-space.safetensors", raw(8, " {}     ".getBytes(StandardCharsets.UTF_8)));
        s.put("header-duplicate-key.safetensors", file("{" + entry("w", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 4, 8) + "}", floats(1, 2)));
        s.put("header-deep-nesting.safetensors", file("{\"w\":" + "[".repeat(3000) + "]".repeat(3000) + "}", new byte[0]));
        s.put("entry-not-object.safetensors", file("{\"w\":5}", new byte[0]));
        s.put("entry-unknown-field.safetensors", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", floats(1)));
        s.put("entry-missing-shape.safetensors", file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", floats(1)));
        s.put("metadata-not-string.safetensors", file("{\"__metadata__\":{\"step\":1}}", new byte[0]));
        // dtypes and shapes
        s.put("dtype-unknown.safetensors", file("{" + entry("w", "I64", "[1]", 0, 8) + "}", new byte[8]));
        s.put("dtype-not-string.safetensors", file("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1)));
        s.put("shape-negative-dim.safetensors", file("{" + entry("w", "F32", "[-2,2]", 0, 16) + "}", four));
        s.put("shape-fractional-dim.safetensors", file("{" + entry("w", "F32", "[2.5,2]", 0, 16) + "}", four));
        s.put("shape-overflows-long.safetensors", file("{" + entry("w", "F32", "[4611686018427387904,4]", 0, 16) + "}", four));
        s.put("shape-bytes-overflow-long.safetensors", file("{" + entry("w", "F32", "[4611686018427387904]", 0, 16) + "}", four));
        s.put("shape-empty-with-huge-dim.safetensors", file("{" + entry("w", "F32", "[0,1099511627776]", 0, 0) + "}", new byte[0]));
        s.put("shape-huge-beyond-int.safetensors", file("{" + entry("w", "F32", "[1099511627776]", 0, 4398046511104L) + "}", four));
        // data offsets
        s.put("offsets-mismatch-shape.safetensors", file("{" + entry("w", "F32", "[2,2]", 0, 8) + "}", new byte[8]));
        s.put("offsets-reversed.safetensors", file("{" + entry("w", "F32", "[0]", 16, 0) + "}", four));
        s.put("offsets-past-end-2pow40.safetensors", file("{" + entry("w", "F32", "[274877906944]", 0, 1L << 40) + "}", four));
        s.put("offsets-overlap.safetensors", file("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}", new byte[12]));
        s.put("offsets-gap.safetensors", file("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}", new byte[12]));
        s.put("data-trailing-bytes.safetensors", file("{" + entry("w", "F32", "[1]", 0, 4) + "}", new byte[12]));
        s.put("data-truncated.safetensors", file("{" + entry("w", "F32", "[2,2]", 0, 16) + "}", new byte[8]));
        return s;
    }

    static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    /** A file as the writers lay it out: the header padded with spaces to a multiple of 8, then the data. */
    static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) & ~7;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        while (b.position() < 8 + padded) b.put((byte) ' ');
        return b.put(data).array();
    }

    /** Any length prefix, then {@code rest}. */
    static byte[] raw(long headerLength, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).put(rest).array();
    }

    static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }
}
