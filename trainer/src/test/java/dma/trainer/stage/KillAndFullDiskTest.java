package dma.trainer.stage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dma.engine.io.Faults;
import dma.engine.io.Safetensors;
import dma.trainer.cli.Main;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A run killed at every kind of point (inside each stage, between stages, while a checkpoint, a module, a result or the
 * summary is being written, during assembly) and resumed each time ends with the same bytes as a run never killed; a
 * full disk fails a stage cleanly and leaves its last good checkpoint intact. The faults are injected with
 * {@code DMA_FAULT} ({@link Faults}) in child processes.
 */
class KillAndFullDiskTest {
    /** Two modules, E2E beside: meta, incubate ×2, assemble, finetune, e2e, about 18 steps an epoch, a checkpoint every 5. */
    static final String CONFIG = """
            {"seed": 5,
             "data": {"kind": "fashion_mnist", "train_fraction": 0.01, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "depth": 2, "embed_dim": 16, "num_heads": 2},
             "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false, "threads": 2,
             "stages": {"meta": {"epochs": 1}, "incubate": {"epochs": 1}, "finetune": {"epochs": 1}, "e2e": {"epochs": 1}},
             "baselines": ["e2e"], "checkpoint_every": 5, "eval_limit": 200}
            """;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path shared;
    static Path config, straight;

    @BeforeAll
    static void straightRun() throws Exception {
        assumeTrue(Files.isDirectory(PipelineTest.FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
        config = PipelineTest.config(shared, CONFIG);
        straight = shared.resolve("straight");
        Run r = dma(shared.resolve("straight.log"), null, "pipeline", "--config", config.toString(), "--run-dir", straight.toString());
        assertEquals(0, r.exit, r.log);
    }

    record Run(int exit, String log) {}

    /** The CLI in a child JVM, with {@code fault} as DMA_FAULT (null: none). */
    static Run dma(Path log, String fault, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(dma.trainer.launch.DmaCommand.JVM_FLAGS);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove(Faults.ENV);
        if (fault != null) pb.environment().put(Faults.ENV, fault);
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "finished within 5 minutes: " + String.join(" ", args));
        return new Run(p.exitValue(), Files.readString(log));
    }

    @Test
    void killedAtEveryKindOfPointAndResumedTheRunEndsBitIdentical(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("killed");
        List<String> kills = List.of(
                "kill@step/meta#8",                      // inside a stage, 3 steps after its checkpoint at step 5
                "kill@rename/meta/state.safetensors",    // a training checkpoint written but not renamed into place
                "kill@end/meta",                         // the stage's model written, its result.json not yet
                "kill@start/incubate-1",                 // between stages
                "kill@step/incubate-1#3",                // inside a module's incubation
                "kill@rename/incubate-1/module.safetensors", // while the module is written
                "kill@assembled/assemble",               // during assembly
                "kill@step/finetune#12",
                "kill@write/finetune/result.json",       // while the mark of a finished stage is written
                "kill@step/e2e#4",
                "kill@summary",                          // every stage finished, the summary not yet written
                "kill@rename/killed/summary.json");      // while the summary is written
        StringBuilder logs = new StringBuilder();
        for (int i = 0; i < kills.size(); i++) {
            String fault = kills.get(i);
            List<String> args = new ArrayList<>(List.of("pipeline", "--config", config.toString(), "--run-dir", run.toString()));
            if (i > 0) args.add("--resume");
            Run r = dma(dir.resolve(i + ".log"), fault, args.toArray(String[]::new));
            assertEquals(Faults.KILLED, r.exit, fault + ":\n" + r.log);
            logs.append(r.log);
            assertTrue(r.log.contains("killed at " + fault.substring(fault.indexOf('@') + 1).replaceAll("#\\d+$", "")), fault + ":\n" + r.log);
        }
        Run last = dma(dir.resolve("last.log"), null, "pipeline", "--config", config.toString(), "--run-dir", run.toString(), "--resume");
        assertEquals(0, last.exit, last.log);
        for (String resumed : List.of("meta: resuming at step 5 ", "incubate-1: resuming at step 15 ", "finetune: resuming at step 10 "))
            assertTrue(logs.toString().contains(resumed), "resumed from its checkpoint, not from step 0: " + resumed + "\n" + logs);

        assertSameOutputs(straight, run);
        try (Stream<Path> all = Files.walk(run)) {
            List<Path> temps = all.filter(p -> p.getFileName().toString().contains(".tmp-")).toList();
            assertEquals(List.of(), temps, "the temp files of killed writes are gone once their files are written again");
        }
    }

    @Test
    void aFullDiskFailsTheStageCleanlyAndKeepsTheLastGoodCheckpoint(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("full");
        Path state = run.resolve("meta").resolve("state.safetensors");
        Run r = dma(dir.resolve("full.log"), "enospc@write/meta/state.safetensors#2",
                "meta", "--config", config.toString(), "--run-dir", run.toString());
        assertEquals(Main.BAD_INPUT, r.exit, r.log);
        String line = r.log.strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(line.startsWith("dma meta: ") && line.contains(state.toString()) && line.contains("No space left on device"), line);
        assertFalse(r.log.contains("\tat "), "no stack trace:\n" + r.log);
        assertEquals("5", Safetensors.read(state).metadata().get("step"), "the checkpoint before the failed write is intact");
        assertFalse(Files.exists(run.resolve("meta").resolve("result.json")), "the stage did not finish");
        assertFalse(Files.exists(run.resolve("meta").resolve("model.safetensors")), "no output was written");
        try (Stream<Path> files = Files.list(run.resolve("meta"))) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().contains(".tmp-")).toList(), "the failed write's temp file is removed");
        }
        // with space again, the stage resumes from that checkpoint to the weights of a run that never failed
        Run resumed = dma(dir.resolve("resumed.log"), null, "meta", "--config", config.toString(), "--run-dir", run.toString(), "--resume");
        assertEquals(0, resumed.exit, resumed.log);
        assertTrue(resumed.log.contains("resuming at step 5"), resumed.log);
        assertArrayEquals(Files.readAllBytes(straight.resolve("meta").resolve("model.safetensors")),
                Files.readAllBytes(run.resolve("meta").resolve("model.safetensors")));
    }

    /** Every stage's output file bit for bit, and every result and the summary but for their wall and CPU times. */
    static void assertSameOutputs(Path expected, Path actual) throws IOException {
        Map<String, byte[]> a = outputs(expected), b = outputs(actual);
        assertEquals(a.keySet(), b.keySet());
        assertTrue(a.size() >= 6, "every stage's output: " + a.keySet());
        a.forEach((name, bytes) -> assertArrayEquals(bytes, b.get(name), name));
        for (String stage : List.of("meta", "incubate-0", "incubate-1", "assemble", "finetune", "e2e"))
            assertEquals(withoutTimes(expected.resolve(stage).resolve("result.json")), withoutTimes(actual.resolve(stage).resolve("result.json")), stage);
        assertEquals(withoutTimes(expected.resolve("summary.json")), withoutTimes(actual.resolve("summary.json")), "summary.json");
    }

    private static Map<String, byte[]> outputs(Path run) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> all = Files.walk(run)) {
            for (Path p : all.filter(p -> p.toString().endsWith(".safetensors") && !p.endsWith("state.safetensors")).toList())
                m.put(run.relativize(p).toString(), Files.readAllBytes(p));
        }
        return m;
    }

    /** A JSON file with every field that measures wall or CPU time removed (the things a resumed run cannot reproduce). */
    private static JsonNode withoutTimes(Path file) throws IOException {
        JsonNode n = JSON.readTree(file.toFile());
        strip(n);
        return n;
    }

    private static void strip(JsonNode n) {
        if (n instanceof ObjectNode o) {
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                String field = it.next().toLowerCase();
                if (field.contains("wall") || field.contains("cpu")) it.remove();
            }
        }
        n.forEach(KillAndFullDiskTest::strip);
    }
}
