package dma.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dma.engine.testing.ReaderContract;
import dma.trainer.data.DataShard;
import dma.trainer.data.Dataset;
import dma.trainer.launch.LaunchRecord;
import dma.trainer.report.MetricsLog;
import dma.trainer.report.Summary;
import dma.trainer.stage.Attempt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Writes the committed seed corpus of {@link ReadersFuzzTest}, one folder per fuzz test: small valid files, made by
 * the project's own writers where it has one, and one file for each known way of being malformed. Run only on request,
 * from the module's folder: {@code mvn test -pl kernels,engine,models,trainer -Dtest=ReadersFuzzSeeds
 * -Ddma.fuzz.writeSeeds=true -Dsurefire.failIfNoSpecifiedTests=false}; commit what it writes.
 */
@EnabledIfSystemProperty(named = "dma.fuzz.writeSeeds", matches = "true")
class ReadersFuzzSeeds {
    static final Path INPUTS = Path.of("src/test/resources/dma/trainer/ReadersFuzzTestInputs");
    static final List<String> TARGETS = List.of("idx", "cifar", "imageFolder", "dataShard", "config", "resultJson", "launchJson",
            "attemptJson", "metricsJsonl", "summaryJson");

    @Test
    void write() throws IOException {
        for (String target : TARGETS) {
            Path dir = Files.createDirectories(INPUTS.resolve(target));
            for (var e : seeds(target).entrySet()) Files.write(dir.resolve(e.getKey()), e.getValue());
        }
    }

    static Map<String, byte[]> seeds(String target) {
        return switch (target) {
            case "idx" -> idx();
            case "cifar" -> cifar();
            case "imageFolder" -> images();
            case "dataShard" -> shards();
            case "config" -> configs();
            case "resultJson" -> results();
            case "launchJson" -> launches();
            case "attemptJson" -> attempts();
            case "metricsJsonl" -> metrics();
            case "summaryJson" -> summaries();
            default -> throw new IllegalArgumentException("no seeds for " + target);
        };
    }

    // ------------------------------------------------------------------------------------------ data sets

    static Map<String, byte[]> idx() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("valid-images", idxFile(0x0803, new int[]{2, 3, 3}, 18));
        s.put("valid-labels", idxFile(0x0801, new int[]{4}, 4));
        s.put("valid-trailing-bytes", idxFile(0x0801, new int[]{2}, 5));
        s.put("truncated-header", Arrays.copyOf(idxFile(0x0803, new int[]{2, 3, 3}, 0), 6));
        s.put("truncated-data", idxFile(0x0803, new int[]{2, 3, 3}, 10));
        s.put("wrong-type-int", idxFile(0x0C03, new int[]{2, 3, 3}, 72));
        s.put("wrong-magic", idxFile(0x1D0801, new int[]{4}, 4));
        s.put("rank-zero", idxFile(0x0800, new int[]{}, 0));
        s.put("rank-five", idxFile(0x0805, new int[]{1, 1, 1, 1, 1}, 1));
        s.put("negative-dimension", idxFile(0x0802, new int[]{-2, 3}, 6));
        s.put("claims-2pow31-bytes", idxFile(0x0802, new int[]{65536, 32768}, 4));
        s.put("claims-2-gb-in-8-bytes", idxFile(0x0802, new int[]{1, 2_000_000_000}, 8));
        s.put("dimensions-overflow-long", idxFile(0x0804, new int[]{65536, 65536, 65536, 65536}, 0));
        return s;
    }

    static byte[] idxFile(int magic, int[] dims, int dataBytes) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + dataBytes).putInt(magic);
        for (int d : dims) b.putInt(d);
        for (int i = 0; i < dataBytes; i++) b.put((byte) (i * 7));
        return b.array();
    }

    static Map<String, byte[]> cifar() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("valid-cifar10-two-records", layout(0, concat(record(1, 3), record(1, 9))));
        s.put("valid-cifar100-one-record", layout(1, record(2, 99)));
        s.put("cifar10-label-out-of-range", layout(0, record(1, 10)));
        s.put("cifar100-label-out-of-range", layout(1, record(2, 100)));
        s.put("truncated-record", layout(0, Arrays.copyOf(record(1, 3), 3000)));
        s.put("empty-files", layout(0, new byte[0]));
        return s;
    }

    /** The fuzz test's layout byte (0: CIFAR-10, 1: CIFAR-100), then the records every file of the layout holds. */
    static byte[] layout(int selector, byte[] records) {
        return concat(new byte[]{(byte) selector}, records);
    }

    /** One record: {@code labelBytes} label bytes (the last is {@code label}), then 3072 pixels. */
    static byte[] record(int labelBytes, int label) {
        byte[] r = new byte[labelBytes + 3072];
        r[labelBytes - 1] = (byte) label;
        for (int i = labelBytes; i < r.length; i++) r[i] = (byte) (i * 31);
        return r;
    }

    static Map<String, byte[]> images() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        byte[] rgb = encode(image(BufferedImage.TYPE_INT_RGB, 3, 2), "png");
        s.put("valid-rgb.png", rgb);
        s.put("valid-gray.png", encode(image(BufferedImage.TYPE_BYTE_GRAY, 4, 4), "png"));
        s.put("valid-gray-16bit.png", encode(image(BufferedImage.TYPE_USHORT_GRAY, 2, 2), "png"));
        s.put("valid-1bit.png", encode(image(BufferedImage.TYPE_BYTE_BINARY, 9, 3), "png"));
        s.put("valid-rgba.png", encode(image(BufferedImage.TYPE_INT_ARGB, 2, 2), "png"));
        byte[] jpeg = encode(image(BufferedImage.TYPE_INT_RGB, 8, 8), "jpeg");
        s.put("valid.jpg", jpeg);
        s.put("truncated.png", Arrays.copyOf(rgb, rgb.length / 2));
        s.put("truncated.jpg", Arrays.copyOf(jpeg, jpeg.length / 2));
        s.put("png-claims-65535x65535.png", pngHeaderOnly(65535, 65535));
        s.put("png-claims-2pow31-1-wide.png", pngHeaderOnly(Integer.MAX_VALUE, 1));
        s.put("png-claims-zero-width.png", pngHeaderOnly(0, 5));
        s.put("jpeg-claims-65500x65500.jpg", jpegWithSize(jpeg, 65500, 65500));
        s.put("bmp-named-png.png", encode(image(BufferedImage.TYPE_INT_RGB, 2, 2), "bmp"));
        s.put("gif-named-png.png", encode(image(BufferedImage.TYPE_BYTE_INDEXED, 2, 2), "gif"));
        s.put("text-named-png.png", "not an image\n".getBytes(StandardCharsets.UTF_8));
        s.put("empty.png", new byte[0]);
        return s;
    }

    static BufferedImage image(int type, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 80) << 16 | (y * 90) << 8 | (x + y) * 40);
        return img;
    }

    static byte[] encode(BufferedImage img, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (!ImageIO.write(img, format, out)) throw new IllegalStateException("no " + format + " writer");
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A PNG of a signature, an IHDR claiming {@code w}×{@code h} 8-bit RGB, and IEND: no pixel data at all. */
    static byte[] pngHeaderOnly(int w, int h) {
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        return concat(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, chunk("IHDR", ihdr.array()), chunk("IEND", new byte[0]));
    }

    static byte[] chunk(String type, byte[] data) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        return ByteBuffer.allocate(12 + data.length).putInt(data.length).put(t).put(data).putInt((int) crc.getValue()).array();
    }

    /** {@code jpeg} with its frame header (SOF0) claiming {@code w}×{@code h}. */
    static byte[] jpegWithSize(byte[] jpeg, int w, int h) {
        byte[] out = jpeg.clone();
        for (int i = 2; i + 8 < out.length; i++)
            if ((out[i] & 0xff) == 0xff && (out[i + 1] & 0xff) == 0xc0) {
                out[i + 5] = (byte) (h >> 8);
                out[i + 6] = (byte) h;
                out[i + 7] = (byte) (w >> 8);
                out[i + 8] = (byte) w;
                return out;
            }
        throw new IllegalStateException("no SOF0 marker");
    }

    static Map<String, byte[]> shards() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        Dataset whole = new Dataset("t/train", 1, 2, 2, 3, new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, new int[]{0, 2, 1});
        byte[] valid = file("shard", f -> DataShard.of("distdata 1 of 2", whole.subset(new int[]{0, 2}), whole).write(f));
        s.put("valid.shard", valid);
        int headLength = ByteBuffer.wrap(valid, 8, 4).getInt();
        String head = new String(valid, 12, headLength, StandardCharsets.UTF_8);
        byte[] body = Arrays.copyOfRange(valid, 12 + headLength, valid.length);
        s.put("truncated.shard", Arrays.copyOf(valid, valid.length - 3));
        s.put("wrong-magic.shard", concat("DMASHRD0".getBytes(StandardCharsets.US_ASCII), Arrays.copyOfRange(valid, 8, valid.length)));
        s.put("header-length-negative.shard", shard(-1, head, body));
        s.put("header-length-2gb.shard", shard(Integer.MAX_VALUE, head, body));
        s.put("header-not-json.shard", shard("{\"part\":", body));
        s.put("header-null.shard", shard("null", body));
        s.put("header-utf32-invalid.shard", concat("DMASHRD1".getBytes(StandardCharsets.US_ASCII), ByteBuffer.allocate(4).putInt(UTF32_INVALID.length).array(),
                UTF32_INVALID, body));
        s.put("header-claims-2pow31-images.shard", shard(head.replace("\"size\":2", "\"size\":2147483647"), body));
        s.put("header-image-bytes-overflow.shard", shard(head.replace("\"height\":2", "\"height\":2147483647").replace("\"width\":2", "\"width\":2147483647"), body));
        s.put("header-negative-size.shard", shard(head.replace("\"size\":2", "\"size\":-1"), body));
        s.put("header-mean-wrong-length.shard", shard(head.replaceFirst("\"mean\":\\[[^]]*]", "\"mean\":[]"), body));
        s.put("header-no-classes.shard", shard(head.replace("\"classes\":3", "\"classes\":0"), body));
        byte[] badLabel = body.clone();
        badLabel[badLabel.length - 1] = 9;
        s.put("label-out-of-range.shard", shard(head, badLabel));
        return s;
    }

    static byte[] shard(String head, byte[] body) {
        byte[] h = head.getBytes(StandardCharsets.UTF_8);
        return shard(h.length, head, body);
    }

    static byte[] shard(int headLength, String head, byte[] body) {
        byte[] h = head.getBytes(StandardCharsets.UTF_8);
        return concat("DMASHRD1".getBytes(StandardCharsets.US_ASCII), ByteBuffer.allocate(4).putInt(headLength).array(), h, body);
    }

    // ------------------------------------------------------------------------------------------ the run config

    static Map<String, byte[]> configs() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        String data = "\"data\":{\"kind\":\"cifar\",\"path\":\".\"}";
        s.put("valid-minimal.json", utf8("{" + data + "}"));
        s.put("valid-full.json", utf8("{\"seed\":3," + data + ",\"model\":{\"preset\":\"vit_fmnist_tiny\",\"depth\":4},\"modules\":2,\"batch_size\":64,"
                + "\"optimizer\":\"adamw\",\"base_lr\":0.001,\"precision\":\"bf16\",\"augment\":{\"pad_crop\":4,\"flip\":true},"
                + "\"stages\":{\"e2e\":{\"epochs\":2.5,\"warmup_epochs\":0.5},\"finetune\":{\"epochs\":1}},\"baselines\":[\"e2e\",\"imitate\"],"
                + "\"launcher\":\"local\",\"module_threads\":1,\"slurm\":{\"partition\":\"gpu\",\"options\":[\"--qos=high\"]}}"));
        s.put("valid-resnet-divided-depths.json", utf8("{" + data + ",\"model\":{\"model\":\"cifar_resnet\",\"depth\":20,\"in_chans\":3,"
                + "\"num_classes\":10,\"base_width\":16},\"divided_depths\":[3,3,3]}"));
        s.put("valid-budget.json", utf8("{" + data + ",\"budget\":{\"e2e_epochs\":2}}"));
        s.put("not-json.json", utf8("{\"seed\":"));
        s.put("json-null.json", utf8("null"));
        s.put("json-array.json", utf8("[1,2]"));
        s.put("unknown-field.json", utf8("{" + data + ",\"sede\":1}"));
        s.put("wrong-type.json", utf8("{" + data + ",\"batch_size\":\"large\"}"));
        s.put("fraction-for-int.json", utf8("{" + data + ",\"divided_depths\":[2,2.5]}"));
        s.put("negative-threads.json", utf8("{" + data + ",\"threads\":-4}"));
        s.put("unknown-kind-with-newline.json", utf8("{\"data\":{\"kind\":\"ima\\ngenet\",\"path\":\".\"}}"));
        s.put("path-with-nul.json", utf8("{\"data\":{\"kind\":\"cifar\",\"path\":\"a\\u0000b\"}}"));
        s.put("unknown-model.json", utf8("{" + data + ",\"model\":{\"model\":\"mlp\"}}"));
        s.put("preset-not-string.json", utf8("{" + data + ",\"model\":{\"preset\":[1]}}"));
        s.put("model-field-wrong-type.json", utf8("{" + data + ",\"model\":{\"preset\":\"vit_fmnist_tiny\",\"embed_dim\":{\"a\":1}}}"));
        s.put("too-many-modules.json", utf8("{" + data + ",\"modules\":1000000}"));
        s.put("deep-nesting.json", utf8("{\"model\":" + "[".repeat(2000) + "]".repeat(2000) + "}"));
        s.put("utf32-invalid-character.json", UTF32_INVALID);
        s.put("huge-number.json", utf8("{" + data + ",\"seed\":1" + "0".repeat(1200) + "}"));
        return s;
    }

    // ------------------------------------------------------------------------------------------ a run's files

    static Map<String, byte[]> results() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("valid.json", json(new Summary.StageResult("meta", "assembling", 12.5, 1_000_000, 2_000_000, 3_000_000, 640, 0.625, 1.2, 0.7, 100, 50, 20.5)));
        s.put("valid-not-evaluated.json", json(new Summary.StageResult("assemble", "assembling", 0.5, 0, 0, 0, 0, null, null)));
        addMalformedJson(s, "{\"name\":\"meta\",\"images\":\"many\"}");
        s.put("unknown-field.json", utf8("{\"name\":\"meta\",\"colour\":1}"));
        return s;
    }

    static Map<String, byte[]> launches() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        Map<String, LaunchRecord.Entry> stages = new LinkedHashMap<>(); // ordered: the seed's bytes do not change between writes
        stages.put("meta", new LaunchRecord.Entry("slurm", "12", null, null, "meta.log", "meta.sbatch", "sbatch meta.sbatch"));
        stages.put("incubate-0", new LaunchRecord.Entry("local", null, 4242L, 1, "i0.log", null, null));
        s.put("valid.json", json(new LaunchRecord("slurm", "2026-01-01T00:00:00Z", 8, 2, "dma pipeline --config c.json", stages)));
        s.put("valid-no-stages.json", utf8("{\"launcher\":\"sequential\",\"threads\":2,\"module_threads\":1}"));
        addMalformedJson(s, "{\"launcher\":\"local\",\"threads\":\"two\"}");
        s.put("stage-entry-null.json", utf8("{\"launcher\":\"local\",\"stages\":{\"meta\":null}}"));
        return s;
    }

    static Map<String, byte[]> attempts() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("valid-failed.json", json(new Attempt.Record("failed", 4242, "node1", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "12_3",
                "meta: out of memory")));
        addMalformedJson(s, "{\"state\":\"running\",\"pid\":\"many\"}");
        return s;
    }

    static Map<String, byte[]> metrics() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        byte[] valid = file(MetricsLog.FILE, f -> {
            try (MetricsLog log = new MetricsLog(f.getParent())) {
                log.log(new MetricsLog.Metric("meta", 1, 0, 2.31, 1e-4, 120.5, null, 0.4, 1_000_000));
                log.log(new MetricsLog.Metric("meta", 2, 0, Double.NaN, 1e-4, 121.0, 0.11, 0.8, 2_000_000));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        s.put("valid.jsonl", valid);
        s.put("valid-last-line-cut.jsonl", Arrays.copyOf(valid, valid.length - 20));
        s.put("valid-empty.jsonl", new byte[0]);
        byte[] line = Arrays.copyOf(valid, indexOf(valid, (byte) '\n') + 1);
        s.put("malformed-middle-line.jsonl", concat(line, utf8("{\"stage\":\n"), line));
        s.put("null-line.jsonl", concat(line, utf8("null\n"), line));
        s.put("wrong-type.jsonl", concat(utf8("{\"stage\":\"meta\",\"step\":\"one\"}\n"), line));
        s.put("not-utf8.jsonl", concat(new byte[]{(byte) 0xff, (byte) 0xfe, '\n'}, line));
        return s;
    }

    static Map<String, byte[]> summaries() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        Summary summary = Summary.of(List.of(new Summary.StageResult("meta", "assembling", 1.5, 10, 20, 30, 64, 0.5, 1.1, 0.6, 100, 50, 2.5),
                new Summary.StageResult("e2e", "e2e", 3.0, 40, 50, 60, 128, 0.7, null)));
        s.put("valid.json", file(Summary.JSON_FILE, f -> {
            try {
                summary.write(f.getParent());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }));
        addMalformedJson(s, "{\"stages\":[{\"name\":\"meta\",\"images\":\"many\"}],\"methods\":[]}");
        s.put("stages-null.json", utf8("{\"stages\":null,\"methods\":[]}"));
        s.put("stage-null.json", utf8("{\"stages\":[null],\"methods\":[]}"));
        s.put("nan-accuracy.json", utf8("{\"stages\":[],\"methods\":[{\"method\":\"e2e\",\"accuracy\":NaN,\"total_flops\":1}]}"));
        return s;
    }

    /** The malformed cases every JSON file of a run has: not JSON, JSON null, another kind of value, a wrong type, deep nesting. */
    static void addMalformedJson(Map<String, byte[]> s, String wrongType) {
        s.put("not-json.json", utf8("{\"name\":"));
        s.put("json-null.json", utf8("null"));
        s.put("json-array.json", utf8("[1,2]"));
        s.put("wrong-type.json", utf8(wrongType));
        s.put("field-name-with-newline.json", utf8("{\"na\\nme\":1}"));
        s.put("deep-nesting.json", utf8("{\"x\":" + "[".repeat(3000) + "]".repeat(3000) + "}"));
        s.put("not-utf8.json", new byte[]{'{', '"', (byte) 0xc3, (byte) 0x28, '"', ':', '1', '}'});
        s.put("utf32-invalid-character.json", UTF32_INVALID);
    }

    /** "{" in UTF-32LE, which Jackson detects from "{\0\0\0", then 0x7cff0000, no character at all (found by fuzzing the config). */
    static final byte[] UTF32_INVALID = {'{', 0, 0, 0, 0, 0, (byte) 0xff, 0x7c, '}', 0, 0, 0};

    // ------------------------------------------------------------------------------------------ helpers

    static byte[] json(Object value) {
        try {
            return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What {@code writer} writes into a file {@code name} of a fresh temporary directory. */
    static byte[] file(String name, java.util.function.Consumer<Path> writer) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("seed-");
            Path f = dir.resolve(name);
            writer.accept(f);
            return Files.readAllBytes(f);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (dir != null) ReaderContract.deleteTree(dir);
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }

    static int indexOf(byte[] a, byte b) {
        for (int i = 0; i < a.length; i++) if (a[i] == b) return i;
        return -1;
    }
}
