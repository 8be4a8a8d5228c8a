package dma.engine.io;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Strict reader and atomic writer for the safetensors format.
 *
 * <p>Layout: an 8-byte little-endian unsigned header length {@code N}; {@code N} bytes of UTF-8 JSON, an
 * object mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets
 * relative to the first byte after the header) plus an optional {@code "__metadata__"} object of
 * string→string; then the data buffer.
 *
 * <p>The reader follows the reference (Rust) implementation's validation: the header is at most
 * 100,000,000 bytes, starts with '{' and may be padded with trailing whitespace; every tensor's byte range
 * matches its shape × dtype size; the ranges, sorted by offset, tile the data buffer exactly, with no
 * overlap, no gap and no trailing bytes. In addition duplicate JSON keys and unknown fields in a tensor
 * entry are rejected. Every failure is a {@link SafetensorsException} whose message starts with the file
 * path.
 */
public final class Safetensors {

    /** Largest header accepted, as in the reference implementation. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA_KEY = "__metadata__";
    private static final Set<String> ENTRY_FIELDS = Set.of("dtype", "shape", "data_offsets");
    /** I/O is done in slices of this size so the JDK never needs one huge temporary direct buffer. */
    private static final int IO_CHUNK = 1 << 20;
    private static final Pattern DUPLICATE = Pattern.compile("Duplicate field '([^']*)'");

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Safetensors() {}

    /**
     * Everything in a file: tensors in the order of their data offsets, and the {@code __metadata__}
     * entries (empty when absent; unmodifiable, in file order).
     */
    public record Loaded(LinkedHashMap<String, HostTensor> tensors, Map<String, String> metadata) {}

    /** One header entry, validated on its own. */
    private record Entry(String name, int index, String dtype, long[] shape, long begin, long end) {
        String range() {
            return "[" + begin + ", " + end + "]";
        }
    }

    // ------------------------------------------------------------------------------------------ read

    /** Reads every tensor; map iteration order = order of data offsets in the file. */
    public static Loaded read(Path file) {
        String where = String.valueOf(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            if (fileSize < 8) {
                throw fail(where, "file is " + fileSize + " bytes, too short to hold the 8-byte header length");
            }
            byte[] prefix = new byte[8];
            readFully(ch, 0, prefix, where);
            long n = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw fail(where, "header length " + Long.toUnsignedString(n) + " bytes is absurd: it exceeds the "
                        + MAX_HEADER_BYTES + "-byte limit (file has " + fileSize + " bytes)");
            }
            if (n > fileSize - 8) {
                throw fail(where, "header length " + n + " runs past the end of the file: file has " + fileSize
                        + " bytes but the header needs 8 + " + n + " = " + (8 + n));
            }
            byte[] headerBytes = new byte[(int) n];
            readFully(ch, 8, headerBytes, where);
            long dataStart = 8 + n;
            long bufferLen = fileSize - dataStart;

            JsonNode root = parseHeader(headerBytes, where);
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> entries = new ArrayList<>();
            for (Map.Entry<String, JsonNode> f : root.properties()) {
                if (f.getKey().equals(METADATA_KEY)) {
                    parseMetadata(f.getValue(), metadata, where);
                } else {
                    entries.add(parseEntry(f.getKey(), entries.size(), f.getValue(), where));
                }
            }

            // Truncation: name the tensor reaching furthest past the buffer.
            Entry furthest = null;
            for (Entry e : entries) {
                if (furthest == null || e.end > furthest.end) furthest = e;
            }
            if (furthest != null && furthest.end > bufferLen) {
                throw fail(where, "tensor '" + furthest.name + "': data_offsets " + furthest.range()
                        + " end beyond the data buffer of " + bufferLen + " bytes: file is truncated, it has "
                        + fileSize + " bytes but needs " + (dataStart + furthest.end) + " bytes (8 + header " + n
                        + " + data " + furthest.end + ")");
            }

            // Layout: sorted by offsets, the ranges must tile [0, bufferLen) exactly.
            List<Entry> sorted = new ArrayList<>(entries);
            sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end)
                    .thenComparingInt(Entry::index));
            long covered = 0;
            Entry frontier = null; // the tensor ending at `covered`
            for (Entry e : sorted) {
                if (e.begin < covered) {
                    throw fail(where, "tensors '" + frontier.name + "' (data_offsets " + frontier.range()
                            + ") and '" + e.name + "' (data_offsets " + e.range() + ") overlap");
                }
                if (e.begin > covered) {
                    String before = frontier == null ? "the start of the data buffer"
                            : "tensor '" + frontier.name + "' (data_offsets " + frontier.range() + ")";
                    throw fail(where, "gap of " + (e.begin - covered) + " bytes in the data buffer: bytes ["
                            + covered + ", " + e.begin + ") between " + before + " and tensor '" + e.name
                            + "' (data_offsets " + e.range() + ") are not covered by any tensor");
                }
                if (e.end > covered || frontier == null) {
                    covered = e.end;
                    frontier = e;
                }
            }
            if (covered != bufferLen) {
                throw fail(where, (bufferLen - covered) + " trailing bytes in the data buffer are not covered by "
                        + "any tensor: data buffer has " + bufferLen + " bytes but the tensors end at " + covered);
            }

            LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
            for (Entry e : sorted) {
                long len = e.end - e.begin;
                if (len > Integer.MAX_VALUE - 8) {
                    throw fail(where, "tensor '" + e.name + "': " + len
                            + " bytes is larger than a Java array can hold");
                }
                byte[] data = new byte[(int) len];
                readFully(ch, dataStart + e.begin, data, where);
                tensors.put(e.name, new HostTensor(e.dtype, e.shape, data));
            }
            return new Loaded(tensors, Collections.unmodifiableMap(metadata));
        } catch (IOException e) {
            throw new SafetensorsException(where + ": cannot read: " + e, e);
        }
    }

    private static JsonNode parseHeader(byte[] headerBytes, String where) {
        String text;
        try {
            CharBuffer cb = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes));
            text = cb.toString();
        } catch (CharacterCodingException e) {
            throw fail(where, "header is not valid UTF-8 (" + e + ")");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            String msg = e.getOriginalMessage();
            Matcher m = DUPLICATE.matcher(msg == null ? "" : msg);
            if (m.find()) {
                throw fail(where, "header is not valid: duplicate key '" + m.group(1) + "' in the JSON header"
                        + at(e.getLocation()));
            }
            throw fail(where, "header is not valid JSON" + at(e.getLocation()) + ": " + msg);
        }
        if (root == null || root.isMissingNode()) {
            throw fail(where, "header is not valid JSON: it is empty");
        }
        if (!root.isObject()) {
            throw fail(where, "header is not a JSON object (got " + kind(root) + ")");
        }
        if (text.charAt(0) != '{') {
            throw fail(where, "header must start with '{' (it starts with whitespace)");
        }
        return root;
    }

    private static void parseMetadata(JsonNode node, Map<String, String> out, String where) {
        if (node.isNull()) return; // like the reference implementation's Option: null means no metadata
        if (!node.isObject()) {
            throw fail(where, "'" + METADATA_KEY + "' must be a JSON object of string to string, got " + kind(node));
        }
        for (Map.Entry<String, JsonNode> f : node.properties()) {
            if (!f.getValue().isTextual()) {
                throw fail(where, "'" + METADATA_KEY + "' value for key '" + f.getKey() + "' must be a string, got "
                        + kind(f.getValue()));
            }
            out.put(f.getKey(), f.getValue().textValue());
        }
    }

    private static Entry parseEntry(String name, int index, JsonNode node, String where) {
        String t = "tensor '" + name + "': ";
        if (!node.isObject()) {
            throw fail(where, t + "entry must be a JSON object with dtype, shape and data_offsets, got " + kind(node));
        }
        for (Map.Entry<String, JsonNode> f : node.properties()) {
            String k = f.getKey();
            if (!ENTRY_FIELDS.contains(k)) {
                throw fail(where, t + "unknown field '" + k + "' (expected dtype, shape, data_offsets)");
            }
        }
        // dtype
        JsonNode dt = node.get("dtype");
        if (dt == null) throw fail(where, t + "missing 'dtype'");
        if (!dt.isTextual()) throw fail(where, t + "'dtype' must be a string, got " + kind(dt));
        String dtype = dt.textValue();
        int elemSize = HostTensor.elementSize(dtype);
        if (elemSize < 0) {
            throw fail(where, t + "unknown or unsupported dtype '" + dtype + "' (supported: "
                    + String.join(", ", HostTensor.SUPPORTED_DTYPES) + ")");
        }
        // shape
        JsonNode sh = node.get("shape");
        if (sh == null) throw fail(where, t + "missing 'shape'");
        if (!sh.isArray()) throw fail(where, t + "'shape' must be an array of non-negative integers, got " + kind(sh));
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw fail(where, t + "shape " + sh + ": dimension " + i + " is " + d
                        + ", dimensions must be non-negative integers");
            }
            shape[i] = d.longValue();
        }
        long numel = HostTensor.numel(shape);
        if (numel < 0) throw fail(where, t + "shape " + sh + " has too many elements (overflows a long)");
        // data_offsets
        JsonNode off = node.get("data_offsets");
        if (off == null) throw fail(where, t + "missing 'data_offsets'");
        if (!off.isArray() || off.size() != 2) {
            throw fail(where, t + "'data_offsets' must be an array [begin, end] of two non-negative integers, got "
                    + off);
        }
        long[] be = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode v = off.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw fail(where, t + "data_offsets " + off + ": " + (i == 0 ? "begin" : "end") + " is " + v
                        + ", offsets must be non-negative integers");
            }
            be[i] = v.longValue();
        }
        String range = "[" + be[0] + ", " + be[1] + "]";
        if (be[0] > be[1]) {
            throw fail(where, t + "data_offsets " + range + " have begin > end");
        }
        long need;
        try {
            need = Math.multiplyExact(numel, (long) elemSize);
        } catch (ArithmeticException e) {
            throw fail(where, t + "shape " + sh + " × " + dtype + " is too many bytes (overflows a long)");
        }
        long have = be[1] - be[0];
        if (need != have) {
            throw fail(where, t + "shape " + Arrays.toString(shape) + " × " + dtype + " needs " + need
                    + " bytes but data_offsets " + range + " give " + have);
        }
        return new Entry(name, index, dtype, shape, be[0], be[1]);
    }

    // ----------------------------------------------------------------------------------------- write

    /**
     * Writes atomically ({@link AtomicFile}: temp file, fsync, rename). Tensors are laid out in the map's
     * iteration order; the header is padded with spaces to a multiple of 8 bytes. F32, BF16 and F16 can be
     * written. {@code metadata} may be null or empty (then no {@code __metadata__} entry is written).
     */
    public static void write(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata) {
        String where = String.valueOf(file);
        if (file == null) throw new SafetensorsException("null: cannot write: path is null");
        if (tensors == null) throw fail(where, "cannot write: tensors map is null");

        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode md = root.putObject(METADATA_KEY);
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null) {
                    throw fail(where, "cannot write: metadata key '" + e.getKey() + "' has a null key or value");
                }
                md.put(e.getKey(), e.getValue());
            }
        }
        long offset = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            String name = e.getKey();
            HostTensor t = e.getValue();
            if (name == null) throw fail(where, "cannot write: a tensor name is null");
            if (name.equals(METADATA_KEY)) {
                throw fail(where, "cannot write: '" + METADATA_KEY + "' is reserved and cannot name a tensor");
            }
            if (t == null) throw fail(where, "cannot write: tensor '" + name + "' is null");
            if (HostTensor.elementSize(t.dtype()) < 0) {
                throw fail(where, "cannot write: tensor '" + name + "' has unsupported dtype '" + t.dtype()
                        + "' (supported: " + String.join(", ", HostTensor.SUPPORTED_DTYPES) + ")");
            }
            ObjectNode entry = root.putObject(name);
            entry.put("dtype", t.dtype());
            ArrayNode shape = entry.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            ArrayNode offs = entry.putArray("data_offsets");
            offs.add(offset);
            offset += t.data().length;
            offs.add(offset);
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(where + ": cannot write: header serialisation failed: " + e, e);
        }
        int padded = (json.length + 7) & ~7;
        if (padded > MAX_HEADER_BYTES) {
            throw fail(where, "cannot write: header of " + padded + " bytes exceeds the " + MAX_HEADER_BYTES
                    + "-byte limit");
        }
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        try {
            AtomicFile.write(file, ch -> {
                AtomicFile.writeFully(ch, head);
                for (HostTensor t : tensors.values()) {
                    byte[] d = t.data();
                    for (int off = 0; off < d.length; off += IO_CHUNK) {
                        AtomicFile.writeFully(ch, ByteBuffer.wrap(d, off, Math.min(IO_CHUNK, d.length - off)));
                    }
                }
            });
        } catch (IOException e) {
            throw new SafetensorsException(where + ": cannot write: " + (e.getMessage() != null ? e.getMessage() : e.toString()), e);
        }
    }

    // --------------------------------------------------------------------------------------- helpers

    private static void readFully(FileChannel ch, long pos, byte[] dst, String where) throws IOException {
        int off = 0;
        while (off < dst.length) {
            ByteBuffer bb = ByteBuffer.wrap(dst, off, Math.min(IO_CHUNK, dst.length - off));
            int r = ch.read(bb, pos + off);
            if (r < 0) {
                throw fail(where, "unexpected end of file at byte " + (pos + off) + " (was the file truncated while"
                        + " being read?)");
            }
            off += r;
        }
    }

    private static String at(JsonLocation loc) {
        if (loc == null || loc.getLineNr() < 0) return "";
        return " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
    }

    private static String kind(JsonNode n) {
        String text = n.toString();
        if (text.length() > 60) text = text.substring(0, 57) + "...";
        return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT) + " " + text;
    }

    private static SafetensorsException fail(String where, String what) {
        return new SafetensorsException(where + ": " + what);
    }
}
