package dma.trainer.stage;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dma.engine.Backend;
import dma.engine.io.AtomicFile;
import dma.trainer.config.Plan;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything that decides a stage's output, as canonical JSON ({@code <stage>/stage-key.json}, written when the stage
 * finishes): the data, the model and its partition, the stage's recipe and the run-wide training settings, the seed, the
 * backend with its thread count (weights depend on it), and the keys of the stages whose outputs it reads. Training is
 * deterministic (a killed and resumed run ends bit-identical), so a finished stage with the same key in another run can be
 * copied instead of trained again: a study whose cells differ only in fine-tuning trains one meta model and one set of
 * modules per seed ({@code reuse_stages_from}). The build is not part of the key: reuse within one build's runs.
 */
public final class StageKey {
    public static final String FILE = "stage-key.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private StageKey() {}

    /**
     * The key of {@code id} in this run as canonical JSON, or null where it has none: a stage fed from outside the run
     * (E2E from a checkpoint, weight selection, a meta model or module selected from a teacher), or one whose inputs
     * were made without a key (an older run).
     */
    static String of(Plan plan, Path runDir, StageId id, Backend be) {
        if (plan.initFromTeacher && (id.kind() == StageId.Kind.META || id.kind() == StageId.Kind.MODULE)) return null;
        List<StageId> inputs = new ArrayList<>();
        switch (id.kind()) {
            case META, E2E -> { }
            case MODULE -> inputs.add(StageId.META);
            case ASSEMBLE -> {
                for (int i = 0; i < plan.partition.modules(); i++) inputs.add(StageId.module(id.method(), i));
            }
            case FINETUNE -> inputs.add(StageId.assemble(id.method()));
            default -> {
                return null;
            }
        }
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("stage", id.name());
        k.put("backend", be.toString());
        k.put("seed", plan.seed);
        k.put("data", Pipeline.dataKey(plan, plan.dataPath.toAbsolutePath().normalize().toString()));
        k.put("model", plan.target.toMap());
        if (id.kind() != StageId.Kind.E2E) k.put("divided_depths", plan.partition.depths()); // E2E trains the whole target: K is not its input
        // a deeper meta model only (the keys of one-block meta modules stay those of runs made before meta_depth existed)
        if (id.kind() != StageId.Kind.E2E && plan.partition.metaDepths().length != plan.partition.meta().blocks())
            k.put("meta_depths", plan.partition.metaDepths());
        k.put("batch_size", plan.batchSize);
        k.put("optimizer", plan.optimizer);
        k.put("momentum", plan.momentum);
        k.put("min_lr", plan.minLr);
        k.put("warmup_lr", plan.warmupLr);
        k.put("label_smoothing", plan.labelSmoothing);
        k.put("precision", plan.precision);
        k.put("augment", plan.augment);
        k.put("eval_limit", plan.evalLimit); // the logged curve, copied with the stage
        if (id.recipeKey() != null) k.put("recipe", plan.recipe(id));
        // an assembled model's BatchNorm statistics are re-estimated (assembled stages made before are not reused)
        if (id.kind() == StageId.Kind.ASSEMBLE && plan.target.hasBatchNorm()) k.put("batch_norm_batches", Stages.BATCH_NORM_BATCHES);
        Map<String, String> in = new LinkedHashMap<>();
        for (StageId s : inputs) {
            Path f = s.dir(runDir).resolve(FILE);
            if (!Files.isRegularFile(f)) return null;
            try {
                in.put(s.name(), sha256(Files.readString(f)));
            } catch (IOException e) {
                throw new UncheckedIOException(f + ": " + e.getMessage(), e);
            }
        }
        k.put("inputs", in);
        try {
            return JSON.writeValueAsString(k) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a finishing stage's key (before its result.json: a finished stage always has one). */
    static void write(Path stageDir, String key) throws IOException {
        if (key != null) AtomicFile.writeString(stageDir.resolve(FILE), key);
    }

    /**
     * Finds a finished stage with this key in the run directories under {@code roots} and copies it into {@code runDir}
     * (its output, then its result.json, as a finishing stage writes them); returns where it came from, or null.
     */
    static Path reuse(List<Path> roots, Path runDir, StageId id, String key) throws IOException {
        if (key == null) return null;
        Path here = id.dir(runDir).toAbsolutePath().normalize();
        for (Path root : roots) {
            if (!Files.isDirectory(root)) continue;
            try (DirectoryStream<Path> runs = Files.newDirectoryStream(root)) {
                for (Path other : runs) {
                    Path dir = id.dir(other), f = dir.resolve(FILE);
                    // the key first (a string compare), then whether that stage finished (reads its result.json)
                    if (dir.toAbsolutePath().normalize().equals(here) || !Files.isRegularFile(f) || !Files.readString(f).equals(key)
                            || Stages.finished(other, id) == null) continue;
                    copy(dir, id.dir(runDir), id.output(other).getFileName().toString());
                    return dir;
                }
            }
        }
        return null;
    }

    /** The stage's files but its lock, attempt record and training checkpoint; result.json last. */
    private static void copy(Path from, Path to, String output) throws IOException {
        Files.createDirectories(to);
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(from)) {
            for (Path f : files) {
                String n = f.getFileName().toString();
                if (Files.isRegularFile(f) && !n.startsWith(".") && !n.equals(ResultFile.NAME) && !n.equals(Attempt.FILE) && !n.equals(StageRunner.STATE_FILE))
                    names.add(n);
            }
        }
        names.sort((a, b) -> Boolean.compare(!a.equals(output), !b.equals(output))); // the output first
        for (String n : names) AtomicFile.write(to.resolve(n), Files.readAllBytes(from.resolve(n)));
        AtomicFile.write(to.resolve(ResultFile.NAME), Files.readAllBytes(from.resolve(ResultFile.NAME)));
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
