package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.Backends;
import dma.engine.GradMode;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.models.ImageClassifier;
import dma.models.nn.BatchNorm2d;
import dma.trainer.config.ConfigLoader;
import dma.trainer.config.Plan;
import dma.trainer.data.Dataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An assembled model's BatchNorm statistics, re-estimated on training batches: an even average, weights untouched. */
class BatchNormRecalibrationTest {
    private final Backend be = Backends.get("cpu");

    @Test
    void momentumOneOverBPlusOneAveragesTheBatchesStatistics() {
        try (BatchNorm2d bn = new BatchNorm2d(be, 3); Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            bn.runningMean.copyFrom(Tensor.full(be, 7f, 3));
            bn.train(true);
            double[] meanSum = new double[3], varSum = new double[3];
            for (int b = 0; b < 3; b++) {
                Tensor x = Tensor.normal(be, 10 + b, b, 1f + b, 4, 3, 5, 5);
                float[] v = x.toFloats();
                for (int c = 0; c < 3; c++) {
                    double sum = 0, sq = 0;
                    for (int n = 0; n < 4; n++) for (int i = 0; i < 25; i++) sum += v[(n * 3 + c) * 25 + i];
                    double mean = sum / 100;
                    for (int n = 0; n < 4; n++) for (int i = 0; i < 25; i++) sq += Math.pow(v[(n * 3 + c) * 25 + i] - mean, 2);
                    meanSum[c] += mean;
                    varSum[c] += sq / 99; // running variance is the unbiased one, as PyTorch's
                }
                bn.momentum(1f / (b + 1));
                bn.forward(x);
            }
            float[] mean = bn.runningMean.toFloats(), var = bn.runningVar.toFloats();
            for (int c = 0; c < 3; c++) {
                assertEquals(meanSum[c] / 3, mean[c], 1e-4, "running mean of channel " + c + ": the first batch replaces the 7");
                assertEquals(varSum[c] / 3, var[c], 1e-4, "running variance of channel " + c);
            }
        }
    }

    @Test
    void anAssembledResNetIsNotReusedFromRunsThatDidNotReEstimate(@TempDir java.nio.file.Path dir) throws Exception {
        for (String model : List.of("{\"preset\": \"cifar_resnet8\", \"in_chans\": 1}", "{\"preset\": \"vit_fmnist_tiny\", \"depth\": 3, \"embed_dim\": 16}")) {
            Plan plan = new Plan(ConfigLoader.parse("test.json", """
                    {"data": {"kind": "fashion_mnist", "path": "%s"}, "model": %s, "modules": 3}""".formatted(dir, model)
                    .getBytes(StandardCharsets.UTF_8)), "test.json");
            for (int i = 0; i < 3; i++) { // the modules' keys, which the assembled model's names
                java.nio.file.Path d = StageId.module(ModuleMethod.INCUBATE, i).dir(dir);
                java.nio.file.Files.createDirectories(d);
                java.nio.file.Files.writeString(d.resolve(StageKey.FILE), "module " + i);
            }
            String key = StageKey.of(plan, dir, StageId.assemble(ModuleMethod.INCUBATE), be);
            assertEquals(plan.target.hasBatchNorm(), key.contains("\"batch_norm_batches\" : " + Stages.BATCH_NORM_BATCHES), key);
        }
    }

    @Test
    void aResNetsStatisticsComeFromTheDataNotFromWhereTheyWere(@TempDir java.nio.file.Path data) {
        Plan plan = new Plan(ConfigLoader.parse("test.json", """
                {"data": {"kind": "fashion_mnist", "path": "%s"}, "model": {"preset": "cifar_resnet8", "in_chans": 1},
                 "modules": 3, "batch_size": 8, "optimizer": "sgd"}""".formatted(data).getBytes(StandardCharsets.UTF_8)), "test.json");
        Random r = new Random(1);
        byte[] images = new byte[64 * 32 * 32];
        r.nextBytes(images);
        int[] labels = r.ints(64, 0, 10).toArray();
        Dataset train = new Dataset("random", 1, 32, 32, 10, images, labels);
        StageRunner runner = new StageRunner(plan, be, train.mean(), train.std());
        try (ImageClassifier model = plan.target.build(be, 3)) {
            List<BatchNorm2d> norms = model.modulesOf(BatchNorm2d.class);
            assertEquals(1 + 3 * 2, norms.size()); // the stem's and two per basic block (depth 8: one block per stage)
            Map<String, float[]> weights = new HashMap<>();
            model.parameters().forEach((k, v) -> weights.put(k, v.toFloats()));

            norms.forEach(bn -> { bn.runningMean.copyFrom(Tensor.full(be, 5f, bn.runningMean.shape())); bn.runningVar.copyFrom(Tensor.full(be, 9f, bn.runningVar.shape())); });
            assertEquals(40, runner.recalibrateBatchNorm(model, train, 5, 7));
            Map<String, float[]> first = new HashMap<>();
            model.stateDict().forEach((k, v) -> first.put(k, v.toFloats()));

            // other stale statistics before: the same statistics after, so nothing of the stale ones is left
            norms.forEach(bn -> { bn.runningMean.copyFrom(Tensor.full(be, -3f, bn.runningMean.shape())); bn.runningVar.copyFrom(Tensor.full(be, 0.1f, bn.runningVar.shape())); });
            runner.recalibrateBatchNorm(model, train, 5, 7);
            model.stateDict().forEach((k, v) -> assertArrayEquals(first.get(k), v.toFloats(), 0f, k));
            model.parameters().forEach((k, v) -> assertArrayEquals(weights.get(k), v.toFloats(), 0f, "weights untouched: " + k));
            float[] stemMean = norms.get(0).runningMean.toFloats();
            assertTrue(stemMean[0] != 5f && stemMean[0] != -3f, "the stem's statistics come from the images");
            assertTrue(model.isTraining(), "the model is left in train mode, as evaluate leaves it");

            // the momentum is back at its training value: one more train-mode batch moves the statistics by a tenth
            BatchNorm2d stem = norms.get(0);
            float before = stem.runningMean.toFloats()[0];
            try (Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
                Tensor x = Tensor.normal(be, 3, 1f, 1f, 2, stem.runningMean.dim(0), 4, 4);
                stem.forward(x);
                float[] v = x.toFloats();
                double channel0 = 0;
                for (int n = 0; n < 2; n++) for (int i = 0; i < 16; i++) channel0 += v[n * stem.runningMean.dim(0) * 16 + i];
                assertEquals(0.9 * before + 0.1 * channel0 / 32, stem.runningMean.toFloats()[0], 1e-5);
            }
        }
        try (ImageClassifier vit = new Plan(ConfigLoader.parse("vit.json", """
                {"data": {"kind": "fashion_mnist", "path": "%s"}, "model": {"preset": "vit_fmnist_tiny", "depth": 2, "embed_dim": 16, "num_heads": 2},
                 "modules": 2}""".formatted(data).getBytes(StandardCharsets.UTF_8)), "vit.json").target.build(be, 1)) {
            Dataset small = new Dataset("random", 1, 28, 28, 10, new byte[16 * 28 * 28], new int[16]);
            assertEquals(0, new StageRunner(plan, be, small.mean(), small.std()).recalibrateBatchNorm(vit, small, 5, 7), "no BatchNorm, nothing to do");
        }
    }
}
