package dma.engine.io;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

    @TempDir
    Path dir;

    // ------------------------------------------------------------------------------------ helpers

    /** Header JSON padded with spaces to a multiple of 8, as the Python/Rust writer does, then data. */
    private static byte[] craft(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(UTF_8);
        int padded = (h.length + 7) & ~7;
        ByteBuffer bb = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) bb.put((byte) ' ');
        bb.put(data);
        return bb.array();
    }

    private static byte[] craft(String headerJson, int dataBytes) {
        return craft(headerJson, new byte[dataBytes]);
    }

    /** Raw length prefix followed by arbitrary bytes. */
    private static byte[] rawPrefix(long n, byte[] rest) {
        ByteBuffer bb = ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(n).put(rest);
        return bb.array();
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    private Path put(String name, byte[] contents) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, contents);
        return p;
    }

    /** Writes the crafted file, reads it, and checks the message names the file and every phrase. */
    private SafetensorsException assertBad(byte[] contents, String... phrases) throws IOException {
        Path p = put("bad.safetensors", contents);
        SafetensorsException ex = assertThrows(SafetensorsException.class, () -> Safetensors.read(p));
        String msg = ex.getMessage();
        assertTrue(msg.contains("bad.safetensors"), () -> "message should name the file: " + msg);
        assertTrue(msg.startsWith(p.toString() + ": "), () -> "message should start with the path: " + msg);
        for (String phrase : phrases) {
            assertTrue(msg.contains(phrase), () -> "message should contain '" + phrase + "': " + msg);
        }
        return ex;
    }

    private static float[] randomFloats(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 4));
        return v;
    }

    private static int bf16Bits(float f) {
        byte[] d = HostTensor.bf16(new long[] {}, new float[] {f}).data();
        assertEquals(2, d.length);
        return (d[0] & 0xFF) | (d[1] & 0xFF) << 8;
    }

    private static float f16(int bits) {
        return new HostTensor("F16", new long[] {1}, new byte[] {(byte) bits, (byte) (bits >>> 8)}).toFloats()[0];
    }

    private List<String> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // --------------------------------------------------------------------------------- round trips

    @Test
    void roundTripF32AndBf16WithOddShapesScalarAndEmpty() throws IOException {
        Random r = new Random(1234);
        LinkedHashMap<String, HostTensor> in = new LinkedHashMap<>();
        float[] a = randomFloats(r, 3 * 5 * 7);
        float[] b = randomFloats(r, 2 * 3);
        float[] odd = randomFloats(r, 13);
        in.put("blocks.0.attn.qkv.weight", HostTensor.f32(new long[] {3, 5, 7}, a));
        in.put("b", HostTensor.bf16(new long[] {2, 3}, b));
        in.put("scalar", HostTensor.f32(new long[] {}, new float[] {-3.25f}));
        in.put("empty", HostTensor.f32(new long[] {0, 4}, new float[0]));
        in.put("odd", HostTensor.bf16(new long[] {1, 1, 13}, odd));
        in.put("empty.bf16", HostTensor.bf16(new long[] {5, 0}, new float[0]));
        in.put("scalar.bf16", HostTensor.bf16(new long[] {}, new float[] {0.1f}));
        Map<String, String> md = new LinkedHashMap<>();
        md.put("format", "pt");
        md.put("note", "ünïcødé ✓ \"quoted\"");
        md.put("empty", "");

        Path p = dir.resolve("model.safetensors");
        Safetensors.write(p, in, md);
        Safetensors.Loaded got = Safetensors.read(p);

        assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(got.tensors().keySet()));
        assertEquals(in, got.tensors());
        assertEquals(md, got.metadata());
        assertEquals(new ArrayList<>(md.keySet()), new ArrayList<>(got.metadata().keySet()));

        assertArrayEquals(a, got.tensors().get("blocks.0.attn.qkv.weight").toFloats());
        assertEquals(1, got.tensors().get("scalar").numel());
        assertArrayEquals(new long[] {}, got.tensors().get("scalar").shape());
        assertArrayEquals(new float[] {-3.25f}, got.tensors().get("scalar").toFloats());
        assertEquals(0, got.tensors().get("empty").numel());
        assertEquals(0, got.tensors().get("empty").toFloats().length);
        assertArrayEquals(new long[] {0, 4}, got.tensors().get("empty").shape());
        float[] bGot = got.tensors().get("b").toFloats();
        for (int i = 0; i < b.length; i++) {
            assertEquals(b[i], bGot[i], Math.abs(b[i]) * 0x1p-8f, "bf16 value " + i);
            // decoding then re-encoding bf16 is exact
            assertEquals(Float.floatToRawIntBits(bGot[i]) >>> 16, bf16Bits(bGot[i]));
        }

        // Layout: header length is a multiple of 8, padded with spaces, tensors in map order from offset 0.
        byte[] raw = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        String header = new String(raw, 8, (int) n, UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{"), header);
        assertTrue(header.stripTrailing().endsWith("}"), header);
        assertTrue(header.indexOf("\"data_offsets\":[0,420]") > 0, header);
        long expectedData = 0;
        for (HostTensor t : in.values()) expectedData += t.data().length;
        assertEquals(8 + n + expectedData, raw.length);
        assertEquals(List.of("model.safetensors"), listDir());
    }

    @Test
    void writeWithoutMetadataAndEmptyFile() throws IOException {
        Path p = dir.resolve("none.safetensors");
        Safetensors.write(p, Map.of(), null);
        Safetensors.Loaded got = Safetensors.read(p);
        assertTrue(got.tensors().isEmpty());
        assertTrue(got.metadata().isEmpty());
        assertEquals(16, Files.size(p)); // 8-byte length + "{}" padded to 8
    }

    @Test
    void f16RoundTripThroughFile() throws IOException {
        byte[] bits = {0x00, 0x3C, 0x00, (byte) 0xC0, (byte) 0xFF, 0x7B}; // 1.0, -2.0, 65504
        LinkedHashMap<String, HostTensor> in = new LinkedHashMap<>();
        in.put("h", new HostTensor("F16", new long[] {3}, bits));
        Path p = dir.resolve("h.safetensors");
        Safetensors.write(p, in, Map.of());
        HostTensor t = Safetensors.read(p).tensors().get("h");
        assertEquals("F16", t.dtype());
        assertArrayEquals(new float[] {1.0f, -2.0f, 65504f}, t.toFloats());
    }

    @Test
    void readOrderFollowsDataOffsetsNotHeaderOrder() throws IOException {
        String header = "{" + entry("z", "F32", "[2]", 8, 16) + "," + entry("m", "F32", "[]", 16, 20) + ","
                + entry("a", "F32", "[2]", 0, 8) + "," + entry("zero", "F32", "[0]", 20, 20) + "}";
        ByteBuffer data = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
        data.putFloat(1).putFloat(2).putFloat(3).putFloat(4).putFloat(5);
        Path p = put("order.safetensors", craft(header, data.array()));
        Safetensors.Loaded got = Safetensors.read(p);
        assertEquals(List.of("a", "z", "m", "zero"), new ArrayList<>(got.tensors().keySet()));
        assertArrayEquals(new float[] {1, 2}, got.tensors().get("a").toFloats());
        assertArrayEquals(new float[] {3, 4}, got.tensors().get("z").toFloats());
        assertArrayEquals(new float[] {5}, got.tensors().get("m").toFloats());
        assertEquals(0, got.tensors().get("zero").numel());
    }

    @Test
    void readsPythonSafetensorsLayout() throws IOException {
        // What safetensors.torch.save_file({"weight": bf16 (2,3), "bias": f32 (3,)}, metadata={"format": "pt", "step": "7"})
        // produces: compact JSON, "__metadata__" first, tensors by (alignment desc, name), header padded with
        // spaces so its length is a multiple of 8.
        String json = "{\"__metadata__\":{\"format\":\"pt\",\"step\":\"7\"},"
                + "\"bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                + "\"weight\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[12,24]}}";
        byte[] h = json.getBytes(UTF_8);
        int n = (h.length + 7) / 8 * 8;
        assertTrue(n > h.length, "test header should need padding");
        ByteBuffer bb = ByteBuffer.allocate(8 + n + 24).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(n);
        bb.put(h);
        while (bb.position() < 8 + n) bb.put((byte) 0x20);
        bb.putFloat(0.5f).putFloat(-1.5f).putFloat(1e-3f);
        short[] w = {0x3F80, (short) 0xC000, 0x4040, 0x0000, (short) 0x8000, 0x7F80}; // 1, -2, 3, 0, -0, inf
        for (short s : w) bb.putShort(s);
        Path p = put("python.safetensors", bb.array());

        Safetensors.Loaded got = Safetensors.read(p);
        assertEquals(Map.of("format", "pt", "step", "7"), got.metadata());
        assertEquals(List.of("bias", "weight"), new ArrayList<>(got.tensors().keySet()));
        HostTensor bias = got.tensors().get("bias");
        assertEquals("F32", bias.dtype());
        assertArrayEquals(new long[] {3}, bias.shape());
        assertArrayEquals(new float[] {0.5f, -1.5f, 1e-3f}, bias.toFloats());
        HostTensor weight = got.tensors().get("weight");
        assertEquals("BF16", weight.dtype());
        assertArrayEquals(new long[] {2, 3}, weight.shape());
        assertArrayEquals(new float[] {1f, -2f, 3f, 0f, -0f, Float.POSITIVE_INFINITY}, weight.toFloats());
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(weight.toFloats()[4]));
    }

    @Test
    void nullMetadataAndZeroSizedTensorsSharingAnOffsetAreAccepted() throws IOException {
        String header = "{\"__metadata__\":null," + entry("e1", "BF16", "[0]", 0, 0) + ","
                + entry("e2", "F16", "[3,0,2]", 0, 0) + "," + entry("x", "F32", "[1]", 0, 4) + ","
                + entry("e3", "F32", "[0]", 4, 4) + "}";
        Safetensors.Loaded got = Safetensors.read(put("z.safetensors", craft(header, 4)));
        assertEquals(List.of("e1", "e2", "x", "e3"), new ArrayList<>(got.tensors().keySet()));
        assertTrue(got.metadata().isEmpty());
    }

    // ------------------------------------------------------------------------------ number formats

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3F80, bf16Bits(1.0f));
        // 1 + 2^-8 lies exactly halfway between bf16 1.0 (0x3F80, even) and 0x3F81: ties to even -> down.
        assertEquals(0x3F808000, Float.floatToRawIntBits(1.0f + 0x1p-8f));
        assertEquals(0x3F80, bf16Bits(1.0f + 0x1p-8f));
        // Just over the tie rounds up.
        assertEquals(0x3F81, bf16Bits(Float.intBitsToFloat(0x3F808001)));
        // Just under the tie rounds down.
        assertEquals(0x3F80, bf16Bits(Float.intBitsToFloat(0x3F807FFF)));
        // 1 + 3*2^-8 is halfway between 0x3F81 (odd) and 0x3F82 (even): ties to even -> up.
        assertEquals(0x3F82, bf16Bits(Float.intBitsToFloat(0x3F818000)));
        assertEquals(0x3F81, bf16Bits(Float.intBitsToFloat(0x3F817FFF)));
        // Negative values round symmetrically.
        assertEquals(0xBF80, bf16Bits(Float.intBitsToFloat(0xBF808000)));
        assertEquals(0xBF82, bf16Bits(Float.intBitsToFloat(0xBF818000)));
        assertEquals(0xBF81, bf16Bits(Float.intBitsToFloat(0xBF808001)));
        // Specials.
        assertEquals(0x8000, bf16Bits(-0.0f));
        assertEquals(0x0000, bf16Bits(Float.MIN_VALUE)); // tiny subnormal rounds to zero
        assertEquals(0x7F80, bf16Bits(Float.POSITIVE_INFINITY));
        assertEquals(0xFF80, bf16Bits(Float.NEGATIVE_INFINITY));
        assertEquals(0x7F80, bf16Bits(Float.MAX_VALUE)); // overflows to infinity under RNE
        assertEquals(0x7F7F, bf16Bits(Float.intBitsToFloat(0x7F7F7FFF)));
        assertEquals(0x7FC0, bf16Bits(Float.NaN));
        // A NaN whose payload is only in the low 16 bits must not truncate to infinity.
        int sNaN = bf16Bits(Float.intBitsToFloat(0x7F800001));
        assertTrue(Float.isNaN(Float.intBitsToFloat(sNaN << 16)), Integer.toHexString(sNaN));
        int negNaN = bf16Bits(Float.intBitsToFloat(0xFFFFFFFF));
        assertTrue(Float.isNaN(Float.intBitsToFloat(negNaN << 16)), Integer.toHexString(negNaN));
        float[] back = HostTensor.bf16(new long[] {2}, new float[] {Float.NaN, 1.0f + 0x1p-7f}).toFloats();
        assertTrue(Float.isNaN(back[0]));
        assertEquals(1.0f + 0x1p-7f, back[1]); // representable in bf16: exact
    }

    @Test
    void f16DecodesHandMadeBitPatterns() {
        assertEquals(1.0f, f16(0x3C00));
        assertEquals(-2.0f, f16(0xC000));
        assertEquals(65504f, f16(0x7BFF));
        assertEquals(0x1p-24f, f16(0x0001)); // smallest subnormal
        assertEquals(1023 * 0x1p-24f, f16(0x03FF)); // largest subnormal
        assertEquals(0x1p-14f, f16(0x0400)); // smallest normal
        assertEquals(-0x1p-24f, f16(0x8001));
        assertEquals(0.333251953125f, f16(0x3555));
        assertEquals(Float.POSITIVE_INFINITY, f16(0x7C00));
        assertEquals(Float.NEGATIVE_INFINITY, f16(0xFC00));
        assertTrue(Float.isNaN(f16(0x7E00)));
        assertTrue(Float.isNaN(f16(0x7C01))); // NaN with a minimal payload stays NaN
        assertTrue(Float.isNaN(f16(0xFE00)));
        assertEquals(Float.floatToRawIntBits(0.0f), Float.floatToRawIntBits(f16(0x0000)));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(f16(0x8000)));
    }

    @Test
    void hostTensorRejectsInconsistentData() {
        assertThrows(IllegalArgumentException.class, () -> new HostTensor("F32", new long[] {2}, new byte[7]));
        assertThrows(IllegalArgumentException.class, () -> new HostTensor("F64", new long[] {1}, new byte[8]));
        assertThrows(IllegalArgumentException.class, () -> new HostTensor("F32", new long[] {-1}, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> HostTensor.f32(new long[] {2, 2}, new float[3]));
        assertEquals(1, HostTensor.f32(new long[] {}, new float[] {7f}).numel());
    }

    // ------------------------------------------------------------------------------------ bad files

    @Test
    void fileShorterThanEightBytes() throws IOException {
        assertBad(new byte[] {1, 0, 0, 0, 0}, "5 bytes", "too short");
        assertBad(new byte[0], "0 bytes", "too short");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        assertBad(rawPrefix(1000, "{}      ".getBytes(UTF_8)), "header length 1000", "past the end",
                "file has 16 bytes", "1008");
    }

    @Test
    void absurdHeaderLengthIsRejectedWithoutAllocating() throws IOException {
        assertBad(rawPrefix(1L << 40, "{}      ".getBytes(UTF_8)), "header length 1099511627776", "absurd",
                "100000000");
        assertBad(rawPrefix(-1L, new byte[8]), "header length 18446744073709551615", "absurd");
        assertBad(rawPrefix(100_000_001L, new byte[8]), "absurd");
    }

    @Test
    void headerNotValidJson() throws IOException {
        assertBad(craft("{not json}", 0), "header is not valid JSON");
        assertBad(craft("{\"a\":{\"dtype\":\"F32\"", 0), "header is not valid JSON");
        assertBad(craft("{} trailing", 0), "header is not valid JSON");
        assertBad(craft("", 0), "header is not valid JSON");
        assertBad(rawPrefix(8, new byte[] {'{', '}', 0, 0, 0, 0, 0, 0}), "header is not valid JSON");
    }

    @Test
    void headerNotUtf8() throws IOException {
        byte[] h = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        assertBad(rawPrefix(8, h), "not valid UTF-8");
    }

    @Test
    void headerNotAJsonObject() throws IOException {
        assertBad(craft("[1,2,3]", 0), "not a JSON object", "array");
        assertBad(craft("\"text\"", 0), "not a JSON object");
        assertBad(craft("null", 0), "not a JSON object");
        assertBad(craft("  {}", 0), "must start with '{'");
    }

    @Test
    void entryMissingFields() throws IOException {
        assertBad(craft("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing 'dtype'");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing 'shape'");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'w'", "missing 'data_offsets'");
        assertBad(craft("{\"w\":[1,2]}", 0), "tensor 'w'", "entry must be a JSON object");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4),
                "tensor 'w'", "unknown field 'extra'");
    }

    @Test
    void entryWithWrongJsonTypes() throws IOException {
        assertBad(craft("{" + entry("w", "F32", "[2,-3]", 0, 0) + "}", 0), "tensor 'w'", "dimension 1 is -3",
                "non-negative integers");
        assertBad(craft("{" + entry("w", "F32", "[2.5]", 0, 0) + "}", 0), "tensor 'w'", "non-negative integers");
        assertBad(craft("{" + entry("w", "F32", "\"2x2\"", 0, 16) + "}", 16), "tensor 'w'",
                "'shape' must be an array");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4), "tensor 'w'",
                "end is 4.0", "offsets must be non-negative integers");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1.5,4]}}", 4), "tensor 'w'",
                "begin is 1.5");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4), "tensor 'w'",
                "begin is -4");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 4),
                "tensor 'w'", "offsets must be non-negative integers");
        assertBad(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8), "tensor 'w'",
                "'data_offsets' must be an array [begin, end]");
        assertBad(craft("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'w'",
                "'dtype' must be a string");
        assertBad(craft("{" + entry("w", "F32", "[99999999999999999999]", 0, 4) + "}", 4), "tensor 'w'",
                "non-negative integers");
        assertBad(craft("{" + entry("w", "F32", "[4294967296,4294967296,4294967296]", 0, 4) + "}", 4),
                "tensor 'w'", "too many elements");
    }

    @Test
    void unknownDtype() throws IOException {
        assertBad(craft("{" + entry("w", "F64", "[1]", 0, 8) + "}", 8), "tensor 'w'", "'F64'",
                "supported: F32, BF16, F16");
        assertBad(craft("{" + entry("q", "Q4_K", "[1]", 0, 1) + "}", 1), "tensor 'q'", "'Q4_K'", "F32, BF16, F16");
    }

    @Test
    void dataOffsetsBeginAfterEnd() throws IOException {
        assertBad(craft("{" + entry("w", "F32", "[1]", 8, 4) + "}", 8), "tensor 'w'", "[8, 4]", "begin > end");
    }

    @Test
    void truncatedData() throws IOException {
        String header = "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("w", "F32", "[4]", 8, 24) + "}";
        byte[] full = craft(header, 24);
        byte[] cut = java.util.Arrays.copyOf(full, full.length - 10);
        assertBad(cut, "tensor 'w'", "[8, 24]", "truncated", "has " + cut.length + " bytes",
                "needs " + full.length + " bytes", "data buffer of 14 bytes");
    }

    @Test
    void overlappingTensors() throws IOException {
        String header = "{" + entry("b", "F32", "[4]", 8, 24) + "," + entry("a", "F32", "[4]", 0, 16) + "}";
        assertBad(craft(header, 24), "'a'", "'b'", "[0, 16]", "[8, 24]", "overlap");
        // identical ranges
        String same = "{" + entry("x", "F32", "[2]", 0, 8) + "," + entry("y", "F32", "[2]", 0, 8) + "}";
        assertBad(craft(same, 8), "'x'", "'y'", "overlap");
    }

    @Test
    void shapeTimesDtypeDoesNotMatchByteLength() throws IOException {
        assertBad(craft("{" + entry("blocks.0.attn.qkv.weight", "F32", "[576,192]", 0, 1000) + "}", 1000),
                "tensor 'blocks.0.attn.qkv.weight'",
                "shape [576, 192] × F32 needs 442368 bytes but data_offsets [0, 1000] give 1000");
        assertBad(craft("{" + entry("s", "BF16", "[]", 0, 4) + "}", 4), "tensor 's'", "needs 2 bytes", "give 4");
        assertBad(craft("{" + entry("z", "F32", "[0,3]", 0, 4) + "}", 4), "tensor 'z'", "needs 0 bytes");
    }

    @Test
    void gapBetweenTensors() throws IOException {
        String header = "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 12, 20) + "}";
        assertBad(craft(header, 20), "gap of 4 bytes", "[8, 12)", "'a'", "'b'", "not covered");
        assertBad(craft("{" + entry("b", "F32", "[2]", 4, 12) + "}", 12), "gap of 4 bytes",
                "start of the data buffer", "'b'");
    }

    @Test
    void trailingBytesAfterLastTensor() throws IOException {
        assertBad(craft("{" + entry("a", "F32", "[2]", 0, 8) + "}", 12), "4 trailing bytes", "not covered",
                "data buffer has 12 bytes");
        assertBad(craft("{}", 3), "3 trailing bytes");
    }

    @Test
    void duplicateKeysInHeader() throws IOException {
        String dup = "{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("a", "F32", "[1]", 4, 8) + "}";
        assertBad(craft(dup, 8), "duplicate key 'a'");
        assertBad(craft("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "duplicate key 'dtype'");
        assertBad(craft("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0), "duplicate key 'k'");
    }

    @Test
    void metadataMustBeStringToString() throws IOException {
        assertBad(craft("{\"__metadata__\":{\"epoch\":3}}", 0), "__metadata__", "'epoch'", "must be a string");
        assertBad(craft("{\"__metadata__\":{\"m\":{\"x\":\"y\"}}}", 0), "'m'", "must be a string");
        assertBad(craft("{\"__metadata__\":[\"x\"]}", 0), "__metadata__", "must be a JSON object");
    }

    @Test
    void missingFileIsReported() {
        Path p = dir.resolve("nope.safetensors");
        SafetensorsException ex = assertThrows(SafetensorsException.class, () -> Safetensors.read(p));
        assertTrue(ex.getMessage().contains(p.toString()), ex.getMessage());
        assertTrue(ex.getMessage().contains("cannot read"), ex.getMessage());
    }

    // --------------------------------------------------------------------------------------- writes

    @Test
    void atomicWriteReplacesExistingFileAndLeavesNoTempFile() throws IOException {
        Path p = dir.resolve("ckpt.safetensors");
        Files.writeString(p, "old junk that is not a safetensors file");
        Safetensors.write(p, Map.of("x", HostTensor.f32(new long[] {2}, new float[] {1, 2})), Map.of("step", "1"));
        assertEquals(List.of("ckpt.safetensors"), listDir());
        Safetensors.Loaded first = Safetensors.read(p);
        assertArrayEquals(new float[] {1, 2}, first.tensors().get("x").toFloats());

        LinkedHashMap<String, HostTensor> second = new LinkedHashMap<>();
        second.put("y", HostTensor.bf16(new long[] {3}, new float[] {3, 4, 5}));
        Safetensors.write(p, second, Map.of("step", "2"));
        assertEquals(List.of("ckpt.safetensors"), listDir());
        Safetensors.Loaded got = Safetensors.read(p);
        assertEquals(List.of("y"), new ArrayList<>(got.tensors().keySet()));
        assertArrayEquals(new float[] {3, 4, 5}, got.tensors().get("y").toFloats());
        assertEquals(Map.of("step", "2"), got.metadata());
    }

    @Test
    void failedWriteLeavesNothingBehindAndKeepsOldFile() throws IOException {
        Path p = dir.resolve("keep.safetensors");
        Safetensors.write(p, Map.of("x", HostTensor.f32(new long[] {1}, new float[] {7})), null);
        byte[] before = Files.readAllBytes(p);

        LinkedHashMap<String, HostTensor> bad = new LinkedHashMap<>();
        bad.put("__metadata__", HostTensor.f32(new long[] {1}, new float[] {1}));
        SafetensorsException ex = assertThrows(SafetensorsException.class, () -> Safetensors.write(p, bad, null));
        assertTrue(ex.getMessage().startsWith(p + ": "), ex.getMessage());
        assertTrue(ex.getMessage().contains("reserved"), ex.getMessage());

        Path missingDir = dir.resolve("no/such/dir/out.safetensors");
        SafetensorsException ex2 = assertThrows(SafetensorsException.class,
                () -> Safetensors.write(missingDir, Map.of(), null));
        assertTrue(ex2.getMessage().contains("out.safetensors"), ex2.getMessage());
        assertTrue(ex2.getMessage().contains("cannot write"), ex2.getMessage());

        assertEquals(List.of("keep.safetensors"), listDir());
        assertArrayEquals(before, Files.readAllBytes(p));
    }
}
