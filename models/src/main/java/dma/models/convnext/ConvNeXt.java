package dma.models.convnext;

import dma.engine.Backend;
import dma.engine.CounterRng;
import dma.engine.Rng;
import dma.engine.Tensor;
import dma.engine.ops.ConvolutionOps;
import dma.models.ImageClassifier;
import dma.models.nn.Conv2d;
import dma.models.nn.Init;
import dma.models.nn.LayerNorm;
import dma.models.nn.LayerNorm2d;
import dma.models.nn.Linear;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * timm's ConvNeXt (v1) with its parameter names: {@code stem.0} (patch conv), {@code stem.1} (LayerNorm2d),
 * {@code stages.i.downsample.0} (LayerNorm2d) and {@code .1} (2×2 stride-2 conv) for i = 1..3,
 * {@code stages.i.blocks.j.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}}, {@code head.norm} (LayerNorm after global
 * average pooling) and {@code head.fc}. All LayerNorms use eps 1e-6. timm's init: trunc_normal(.02) weights and
 * zero biases for every convolution and linear layer, LayerNorms ones/zeros, layer scale 1e-6.
 *
 * <p>As an {@link ImageClassifier}: the stem is {@code stem}; block g is stage s's block j, preceded by the stage's
 * downsample when j = 0 and s &gt; 0; the head is pooling, {@code head.norm} and {@code head.fc}.
 */
public final class ConvNeXt extends ImageClassifier {
    public final ConvNeXtConfig config;
    final Conv2d stemConv;
    final LayerNorm2d stemNorm;
    final List<LayerNorm2d> downNorm;
    final List<Conv2d> downConv;
    final List<List<ConvNeXtBlock>> stages;
    final LayerNorm headNorm;
    final Linear headFc;

    public ConvNeXt(Backend be, ConvNeXtConfig c, long seed) {
        this.config = c;
        stemConv = child("stem.0", timmConv(be, CounterRng.derive(seed, 1), c.inChans(), c.dim(0), c.patchSize()));
        stemNorm = child("stem.1", new LayerNorm2d(be, c.dim(0), 1e-6f));
        List<LayerNorm2d> dn = new ArrayList<>();
        List<Conv2d> dc = new ArrayList<>();
        List<List<ConvNeXtBlock>> st = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            if (s > 0) {
                dn.add(child("stages." + s + ".downsample.0", new LayerNorm2d(be, c.dim(s - 1), 1e-6f)));
                dc.add(child("stages." + s + ".downsample.1", timmConv(be, CounterRng.derive(seed, 10 + s), c.dim(s - 1), c.dim(s), 2)));
            }
            List<ConvNeXtBlock> blocks = new ArrayList<>();
            for (int j = 0; j < c.depth(s); j++) {
                int g = c.stageOffset(s) + j;
                blocks.add(child("stages." + s + ".blocks." + j, new ConvNeXtBlock(be, CounterRng.derive(seed, 100 + g), c.dim(s), c.dropPathOf(g))));
            }
            st.add(Collections.unmodifiableList(blocks));
        }
        downNorm = Collections.unmodifiableList(dn);
        downConv = Collections.unmodifiableList(dc);
        stages = Collections.unmodifiableList(st);
        headNorm = child("head.norm", new LayerNorm(be, c.dim(3), 1e-6f));
        headFc = child("head.fc", new Linear(be, CounterRng.derive(seed, 4), c.dim(3), c.numClasses(), true));
    }

    /** A kernel = stride convolution with timm's ConvNeXt init (trunc_normal(.02) weight, zero bias). */
    private static Conv2d timmConv(Backend be, long seed, int in, int out, int kernel) {
        Conv2d conv = new Conv2d(be, seed, in, out, kernel, kernel, 0, true, false);
        try (Tensor w = Init.truncNormal(be, seed, 0.02f, out, in, kernel, kernel)) {
            conv.weight.copyFrom(w);
        }
        be.zero(conv.bias.storage());
        return conv;
    }

    @Override
    public ConvNeXtConfig architecture() {
        return config;
    }

    @Override
    public int numBlocks() {
        return config.blocks();
    }

    /** Images [N, C, H, W] → stage-0 features [N, dims[0], H/patch, W/patch]. */
    @Override
    public Tensor forwardStem(Tensor images) {
        int p = config.patchSize();
        if (images.rank() != 4 || images.dim(1) != config.inChans() || images.dim(2) < 8 * p || images.dim(3) < 8 * p)
            throw new IllegalArgumentException("ConvNeXt: input " + images.shapeString() + " does not match [N, " + config.inChans()
                    + ", H, W] with H, W ≥ " + 8 * p + " (patch " + p + ", then three 2× downsamples)");
        return stemNorm.forward(stemConv.forward(images));
    }

    @Override
    public Tensor forwardBlock(int index, Tensor x, Rng rng) {
        int s = config.stageOf(index), j = index - config.stageOffset(s);
        if (j == 0 && s > 0) x = downsample(s, x);
        return stages.get(s).get(j).forward(x, rng);
    }

    /** Stage s's downsample (s = 1..3): LayerNorm2d, then a 2×2 stride-2 convolution to the stage's width. */
    public Tensor downsample(int stage, Tensor x) {
        return downConv.get(stage - 1).forward(downNorm.get(stage - 1).forward(x));
    }

    /** Global average pooling, LayerNorm, classifier (timm's NormMlpClassifierHead without a hidden layer). */
    @Override
    public Tensor forwardHead(Tensor x) {
        return headFc.forward(headNorm.forward(ConvolutionOps.globalAvgPool(x)));
    }

    public List<List<ConvNeXtBlock>> stages() {
        return stages;
    }
}
