package dma.models.resnet;

import dma.engine.Backend;
import dma.engine.CounterRng;
import dma.engine.Tensor;
import dma.engine.ops.ConvolutionOps;
import dma.models.nn.BatchNorm2d;
import dma.models.nn.Conv2d;
import dma.models.nn.Init;
import dma.models.nn.Linear;
import dma.models.ImageClassifier;
import dma.engine.Rng;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The CIFAR ResNet of He et al. (3×3 stem at 16 channels, three stages of BasicBlocks, global average
 * pool, linear classifier), with the usual state-dict names: conv1, bn1, layer{1,2,3}.{j}.…, fc.
 */
public final class CifarResNet extends ImageClassifier {
    public final ResNetConfig config;
    final Conv2d conv1;
    final BatchNorm2d bn1;
    final List<List<BasicBlock>> stages;
    final Linear fc;

    public CifarResNet(Backend be, ResNetConfig c, long seed) {
        this.config = c;
        conv1 = child("conv1", new Conv2d(be, CounterRng.derive(seed, 1), c.inChans(), c.width(0), 3, 1, 1, false, true));
        bn1 = child("bn1", new BatchNorm2d(be, c.width(0)));
        List<List<BasicBlock>> st = new ArrayList<>();
        int in = c.width(0);
        for (int s = 0; s < 3; s++) {
            List<BasicBlock> blocks = new ArrayList<>();
            for (int j = 0; j < c.stageBlocks()[s]; j++) {
                int stride = s > 0 && j == 0 ? 2 : 1;
                blocks.add(child("layer" + (s + 1) + "." + j, new BasicBlock(be, CounterRng.derive(seed, 100 * (s + 1) + j), in, c.width(s), stride)));
                in = c.width(s);
            }
            st.add(Collections.unmodifiableList(blocks));
        }
        stages = Collections.unmodifiableList(st);
        fc = child("fc", new Linear(be, CounterRng.derive(seed, 2), in, c.numClasses(), true));
        // kaiming-normal classifier weight and PyTorch-default bias, as the reference CIFAR ResNet initializes
        long fcSeed = CounterRng.derive(seed, 3);
        try (Tensor w = Init.kaimingNormal(be, fcSeed, in, c.numClasses(), in); Tensor b = Init.torchDefault(be, fcSeed + 1, in, c.numClasses())) {
            fc.weight.copyFrom(w);
            fc.bias.copyFrom(b);
        }
    }

    public Tensor stem(Tensor images) {
        if (images.rank() != 4 || images.dim(1) != config.inChans())
            throw new IllegalArgumentException("CifarResNet: input " + images.shapeString() + " does not match [N, " + config.inChans() + ", H, W]");
        return bn1.forward(conv1.forward(images), null, true);
    }

    public Tensor headOf(Tensor features) {
        return fc.forward(ConvolutionOps.globalAvgPool(features));
    }

    @Override
    public ResNetConfig architecture() {
        return config;
    }

    @Override
    public int numBlocks() {
        return config.blocks();
    }

    @Override
    public Tensor forwardStem(Tensor images) {
        return stem(images);
    }

    @Override
    public Tensor forwardBlock(int index, Tensor x, Rng rng) {
        int s = 0, j = index;
        while (s < 2 && j >= stages.get(s).size()) j -= stages.get(s++).size();
        return stages.get(s).get(j).forward(x);
    }

    @Override
    public Tensor forwardHead(Tensor x) {
        return headOf(x);
    }

    public List<List<BasicBlock>> stages() {
        return stages;
    }
}
