package dma.models.vit;

import dma.engine.Backend;
import dma.engine.GradMode;
import dma.engine.Rng;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.cpu.CpuBackend;
import dma.engine.testing.GradCheck;
import dma.models.resnet.CifarResNet;
import dma.models.resnet.ResNetConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelShapesTest {
    private final Backend be = CpuBackend.get();

    @Test
    void parameterCountsMatchThePublishedModels() {
        // timm's DeiT sizes (1000 classes)
        assertEquals(5_717_416, count(ViTConfig.preset("deit_tiny_patch16_224")));
        assertEquals(22_050_664, count(ViTConfig.preset("deit_small_patch16_224")));
        // option-A CIFAR ResNets, 10 classes, counted by hand: stem 3·16·9 + 2·16; a block c→w has
        // 9·c·w + 9·w·w conv weights and 4·w BatchNorm parameters; classifier 64·10 + 10
        assertEquals(resnetParams(3), countResNet(20));
        assertEquals(resnetParams(9), countResNet(56));
        assertEquals(resnetParams(18), countResNet(110));
        assertEquals(269_722, resnetParams(3)); // the "0.27M" of ResNet-20
        assertEquals(1_727_962, resnetParams(18)); // the "1.7M" of ResNet-110
    }

    private long count(ViTConfig c) {
        try (VisionTransformer m = c.build(be, 0)) {
            return m.parameterCount();
        }
    }

    private static long resnetParams(int n) {
        long total = 3 * 16 * 9 + 2 * 16;
        int in = 16;
        for (int w : new int[]{16, 32, 64})
            for (int j = 0; j < n; j++) {
                total += 9L * in * w + 9L * w * w + 4L * w;
                in = w;
            }
        return total + 64 * 10 + 10;
    }

    private long countResNet(int depth) {
        try (CifarResNet m = ResNetConfig.cifar(depth, 3, 10).build(be, 0)) {
            return m.parameterCount();
        }
    }

    @Test
    void vitUsesTimmNames() {
        ViTConfig c = new ViTConfig(8, 4, 3, 5, 12, 1, 2, 4, 0);
        try (VisionTransformer m = c.build(be, 1)) {
            assertEquals(List.of("cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                    "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                    "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias", "blocks.0.norm2.weight", "blocks.0.norm2.bias",
                    "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
                    "norm.weight", "norm.bias", "head.weight", "head.bias"), List.copyOf(m.stateDict().keySet()));
            assertArrayEquals(new int[]{1, 5, 12}, m.stateDict().get("pos_embed").shape());
            assertArrayEquals(new int[]{36, 12}, m.stateDict().get("blocks.0.attn.qkv.weight").shape());
        }
    }

    @Test
    void forwardShapesAndInputCheck() {
        ViTConfig c = new ViTConfig(28, 4, 1, 10, 16, 2, 2, 4, 0.1);
        try (VisionTransformer m = c.build(be, 1); Scope s = Scope.open()) {
            Tensor x = Tensor.normal(be, 3, 0f, 1f, 2, 1, 28, 28);
            assertArrayEquals(new int[]{2, 10}, m.forward(x, new Rng(1)).shape());
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.zeros(be, 2, 3, 28, 28), null));
            assertTrue(e.getMessage().contains("[2, 3, 28, 28]"), e.getMessage());
        }
    }

    @Test
    void vitGradientsMatchFiniteDifferences() {
        ViTConfig c = new ViTConfig(8, 4, 2, 3, 8, 2, 2, 2, 0);
        try (VisionTransformer m = c.build(be, 5)) {
            Tensor x = Scope.persistent(() -> Tensor.normal(be, 9, 0f, 1f, 2, 2, 8, 8));
            var p = m.parameters();
            new GradCheck(3e-3, 2e-3, 2e-2, 40).check("vit", t -> m.forward(t[0], null),
                    x, p.get("pos_embed"), p.get("patch_embed.proj.weight"), p.get("blocks.1.attn.qkv.weight"), p.get("blocks.0.mlp.fc2.bias"), p.get("head.weight"));
            x.close();
        }
    }

    @Test
    void evalModeIsDeterministicAndNoTapeUnderNoGrad() {
        ViTConfig c = new ViTConfig(8, 4, 1, 3, 8, 2, 2, 4, 0.5);
        try (VisionTransformer m = c.build(be, 2); Scope s = Scope.open(); GradMode off = GradMode.disabled()) {
            m.train(false);
            Tensor x = Tensor.normal(be, 3, 0f, 1f, 2, 1, 8, 8);
            Tensor a = m.forward(x, null), b = m.forward(x, null);
            assertArrayEquals(a.toFloats(), b.toFloats(), 0f);
            assertTrue(a.node() == null);
        }
    }
}
