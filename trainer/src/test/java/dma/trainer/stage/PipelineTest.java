package dma.trainer.stage;

import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.io.TensorFiles;
import dma.trainer.cli.Main;
import dma.trainer.report.Summary;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The whole pipeline on Fashion-MNIST (Debian's dataset-fashion-mnist, which .ci/run installs). */
class PipelineTest {
    static final Path FMNIST = Path.of("/usr/share/datasets/fashion-mnist");

    @BeforeAll
    static void needData() {
        assumeTrue(Files.isDirectory(FMNIST), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    static Path config(Path dir, String body) throws Exception {
        Path f = dir.resolve("run.json");
        Files.writeString(f, body);
        return f;
    }

    static final String TINY = """
            {"seed": 3,
             "data": {"kind": "fashion_mnist", "train_fraction": 0.01, "workers": 1},
             "model": {"preset": "vit_fmnist_tiny", "depth": 3, "embed_dim": 16, "num_heads": 2},
             "modules": 2, "batch_size": 32, "base_lr": 2e-3, "scale_lr_by_batch": false,
             "stages": {"meta": {"epochs": 1}, "incubate": {"epochs": 1}, "finetune": {"epochs": 1}, "e2e": {"epochs": 1}},
             "baselines": ["e2e", "imitate", "distdata"],
             "checkpoint_every": 5, "eval_limit": 300}
            """;

    @Test
    void everyStageRunsAndTheSummaryIsWritten(@TempDir Path dir) throws Exception {
        Path cfg = config(dir, TINY), run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        for (String stage : List.of("meta", "incubate-0", "incubate-1", "assemble", "finetune", "imitate-0", "imitate-1",
                "assemble-imitate", "finetune-imitate", "distdata-0", "distdata-1", "assemble-distdata", "finetune-distdata", "e2e"))
            assertTrue(Files.exists(run.resolve(stage).resolve("result.json")), stage + " finished");
        Summary s = Summary.read(run);
        assertEquals(List.of("assembling", "imitation", "distdata", "e2e"), s.methods().stream().map(Summary.MethodResult::method).toList());
        for (Summary.MethodResult m : s.methods()) {
            assertTrue(m.totalFlops() > 0 && m.accuracy() > 0.1, m.toString()); // better than chance (10 classes)
        }
        for (String png : List.of("loss.png", "accuracy.png", "accuracy_vs_flops.png", "accuracy_vs_time.png"))
            assertTrue(Files.size(run.resolve("plots").resolve(png)) > 1000, png);
        assertTrue(Files.readString(run.resolve("summary.md")).contains("| assembling |"));
        // a second run finds every stage finished and only rewrites the report
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString()));
        assertEquals(s.methods(), Summary.read(run).methods());
    }

    /** data.pad_to pads the training and test images (CifarResNet is counted on 32²); a model of another image size is refused by name. */
    @Test
    void paddedImagesMeetTheModelsShape(@TempDir Path dir) throws Exception {
        String resnet = "{\"data\": {\"kind\": \"fashion_mnist\", \"train_fraction\": 0.01%s},"
                + " \"model\": {\"preset\": \"cifar_resnet20\", \"in_chans\": 1}, \"modules\": 3}";
        Path f = config(dir, resnet.formatted(", \"pad_to\": 32"));
        var split = Pipeline.data(new dma.trainer.config.Plan(dma.trainer.config.ConfigLoader.read(f), f.toString()));
        for (var d : List.of(split.train(), split.test())) {
            assertEquals(List.of(1, 32, 32), List.of(d.channels(), d.height(), d.width()), d.toString());
            for (int x = 0; x < 32; x++) assertEquals(0, d.images()[x] | d.images()[31 * 32 + x] | d.images()[x * 32] | d.images()[x * 32 + 31]);
        }
        assertEquals(600, split.train().size());
        assertEquals(10000, split.test().size());
        Path g = config(dir, resnet.formatted(""));
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Pipeline.data(new dma.trainer.config.Plan(dma.trainer.config.ConfigLoader.read(g), g.toString())));
        assertTrue(e.getMessage().contains("the model takes 1×32×32 images but") && e.getMessage().contains("1×28×28")
                && e.getMessage().contains("data.pad_to"), e.getMessage());
        Path h = config(dir, TINY.replace("\"workers\": 1", "\"workers\": 1, \"pad_to\": 20"));
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Pipeline.data(new dma.trainer.config.Plan(dma.trainer.config.ConfigLoader.read(h), h.toString())));
        assertTrue(e.getMessage().contains("data.pad_to 20 is smaller than the images"), e.getMessage());
    }

    /** A meta model of 2K blocks (meta_depth): its modules incubate and imitate against two meta blocks each, and assemble. */
    @Test
    void aDeeperMetaModelRunsItsModuleMethods(@TempDir Path dir) throws Exception {
        Path cfg = config(dir, TINY.replace("\"depth\": 3", "\"depth\": 4").replace("\"modules\": 2,", "\"modules\": 2, \"meta_depth\": 4,")
                .replace("[\"e2e\", \"imitate\", \"distdata\"]", "[\"imitate\"]"));
        Path run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("pipeline", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        var be = CpuBackend.get();
        Map<String, Tensor> meta = TensorFiles.load(run.resolve("meta").resolve("model.safetensors"), be);
        assertTrue(meta.containsKey("blocks.3.attn.qkv.weight") && !meta.containsKey("blocks.4.attn.qkv.weight"), meta.keySet().toString());
        meta.values().forEach(Tensor::close);
        Summary s = Summary.read(run);
        assertEquals(List.of("assembling", "imitation"), s.methods().stream().map(Summary.MethodResult::method).toList());
        for (Summary.MethodResult m : s.methods()) assertTrue(m.accuracy() > 0.1, m.toString());
    }

    /** A long stage evaluates at most about 32 times (every second epoch of 40), a short one at each quarter. */
    @Test
    void aLongStageEvaluatesEveryFewEpochs(@TempDir Path dir) throws Exception {
        Path cfg = config(dir, TINY.replace("\"train_fraction\": 0.01", "\"train_fraction\": 0.002")
                .replace("\"e2e\": {\"epochs\": 1}", "\"e2e\": {\"epochs\": 40}").replace("\"eval_limit\": 300", "\"eval_limit\": 50"));
        Path run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("e2e", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        var evals = dma.trainer.report.MetricsLog.read(run.resolve("e2e").resolve("metrics.jsonl")).stream()
                .filter(m -> m.evalAccuracy() != null).map(m -> m.epoch()).toList();
        assertEquals(20, evals.size(), evals.toString()); // 40 epochs: at the end of every second one
        for (int i = 0; i < evals.size(); i++) assertEquals(2 * (i + 1), (int) evals.get(i), evals.toString());
    }

    /** Runs the dma CLI in a child JVM (so it can be killed like a real run). */
    static Process child(Path log, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(dma.trainer.launch.DmaCommand.JVM_FLAGS);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    @Test
    void aKilledStageResumesToTheSameWeights(@TempDir Path dir) throws Exception {
        Path cfg = config(dir, TINY.replace("\"meta\": {\"epochs\": 1}", "\"meta\": {\"epochs\": 3}"));
        Path straight = dir.resolve("straight"), killed = dir.resolve("killed");
        Process p = child(dir.resolve("straight.log"), "meta", "--config", cfg.toString(), "--run-dir", straight.toString(), "--threads", "2");
        assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, Files.readString(dir.resolve("straight.log")));

        Process k = child(dir.resolve("killed.log"), "meta", "--config", cfg.toString(), "--run-dir", killed.toString(), "--threads", "2");
        Path state = killed.resolve("meta").resolve("state.safetensors");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        // wait until a checkpoint exists past the first one, then SIGKILL mid-stage
        while (!(Files.exists(state) && Files.readString(killed.resolve("meta").resolve("metrics.jsonl")).lines().count() > 3)
                && System.nanoTime() < deadline && k.isAlive())
            Thread.sleep(20);
        assertTrue(k.isAlive(), "the run was still going when it was killed: " + Files.readString(dir.resolve("killed.log")));
        k.destroyForcibly().waitFor(); // destroyForcibly is SIGKILL on Linux
        assertTrue(Files.exists(state), "a training checkpoint survived the kill");
        assertTrue(!Files.exists(killed.resolve("meta").resolve("result.json")), "the stage had not finished");

        Process r = child(dir.resolve("resume.log"), "meta", "--config", cfg.toString(), "--run-dir", killed.toString(), "--threads", "2", "--resume");
        assertTrue(r.waitFor(300, TimeUnit.SECONDS) && r.exitValue() == 0, Files.readString(dir.resolve("resume.log")));
        assertTrue(Files.readString(dir.resolve("resume.log")).contains("resuming at step"), Files.readString(dir.resolve("resume.log")));

        var be = CpuBackend.get();
        Map<String, Tensor> a = TensorFiles.load(straight.resolve("meta").resolve("model.safetensors"), be);
        Map<String, Tensor> b = TensorFiles.load(killed.resolve("meta").resolve("model.safetensors"), be);
        assertEquals(a.keySet(), b.keySet());
        a.forEach((key, t) -> assertArrayEquals(t.toFloats(), b.get(key).toFloats(), 0f, key));
        a.values().forEach(Tensor::close);
        b.values().forEach(Tensor::close);
    }

    /** precision "bf16": every step's matrix products on bf16 operands (the CPU backend's reference path here); it learns. */
    @Test
    void aBf16StageTrains(@TempDir Path dir) throws Exception {
        Path cfg = config(dir, TINY.replace("\"seed\": 3,", "\"seed\": 3, \"precision\": \"bf16\","));
        Path run = dir.resolve("run");
        assertEquals(0, Main.commandLine().execute("e2e", "--config", cfg.toString(), "--run-dir", run.toString(), "--threads", "2"));
        Summary.StageResult result = ResultFile.read(run.resolve("e2e"));
        assertTrue(result.accuracy() > 0.1, "better than chance (10 classes): " + result);
    }

    @Test
    void aNaNLossStopsTheStageNamingTheStep(@TempDir Path dir) throws Exception {
        // a learning rate this large drives the weights to inf within a few steps
        Path cfg = config(dir, TINY.replace("\"base_lr\": 2e-3", "\"base_lr\": 1e30"));
        Path run = dir.resolve("run");
        java.io.StringWriter err = new java.io.StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new java.io.PrintWriter(err));
        assertEquals(2, cl.execute("meta", "--config", cfg.toString(), "--run-dir", run.toString()));
        assertTrue(err.toString().contains("meta: loss is") && err.toString().contains("at step"), err.toString());
        assertTrue(!Files.exists(run.resolve("meta").resolve("result.json")));
    }
}
