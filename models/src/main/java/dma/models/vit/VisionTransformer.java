package dma.models.vit;

import dma.engine.Backend;
import dma.engine.CounterRng;
import dma.engine.Rng;
import dma.engine.Tensor;
import dma.engine.ops.LayoutOps;
import dma.models.nn.Conv2d;
import dma.models.nn.Init;
import dma.models.nn.LayerNorm;
import dma.models.nn.Linear;
import dma.models.ImageClassifier;
import dma.models.nn.Module;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * timm's VisionTransformer (class token, learned position embedding over class + patch tokens,
 * pre-norm blocks, final norm, head on the class token), with timm's parameter names.
 */
public final class VisionTransformer extends ImageClassifier {
    public final ViTConfig config;
    final Module patchEmbed;
    final Conv2d patchProj;
    final Tensor clsToken, posEmbed;
    final List<Block> blocks;
    final LayerNorm norm;
    final Linear head;

    public VisionTransformer(Backend be, ViTConfig c, long seed) {
        this.config = c;
        int d = c.embedDim();
        patchProj = new Conv2d(be, CounterRng.derive(seed, 1), c.inChans(), d, c.patchSize(), c.patchSize(), 0, true, false);
        patchEmbed = child("patch_embed", new Wrapper("proj", patchProj));
        clsToken = parameter("cls_token", () -> Tensor.normal(be, CounterRng.derive(seed, 2), 0f, 1e-6f, 1, 1, d));
        posEmbed = parameter("pos_embed", () -> Init.truncNormal(be, CounterRng.derive(seed, 3), 0.02f, 1, c.numPatches() + 1, d));
        List<Block> bs = new ArrayList<>();
        for (int i = 0; i < c.depth(); i++)
            bs.add(child("blocks." + i, new Block(be, CounterRng.derive(seed, 100 + i), d, c.numHeads(), c.hiddenDim(), c.dropPathOf(i))));
        blocks = Collections.unmodifiableList(bs);
        norm = child("norm", new LayerNorm(be, d, 1e-6f));
        head = child("head", new Linear(be, CounterRng.derive(seed, 4), d, c.numClasses(), true));
    }

    /** Images [B, C, H, W] → tokens [B, 1 + L, D] (class token first, position embedding added). */
    public Tensor embed(Tensor images) {
        int b = images.dim(0), d = config.embedDim();
        if (images.rank() != 4 || images.dim(1) != config.inChans() || images.dim(2) != config.imgSize() || images.dim(3) != config.imgSize())
            throw new IllegalArgumentException("ViT: input " + images.shapeString() + " does not match [N, " + config.inChans() + ", "
                    + config.imgSize() + ", " + config.imgSize() + "]");
        Tensor p = patchProj.forward(images);                          // [B, D, gh, gw]
        Tensor tokens = p.reshape(b, d, -1).permute(0, 2, 1);          // [B, L, D]
        Tensor cls = Tensor.zeros(images.backend(), b, 1, d).add(clsToken); // broadcast over the batch
        return LayoutOps.concat(1, cls, tokens).add(posEmbed);
    }

    /** Class-token features after the final norm → logits. */
    public Tensor headOf(Tensor tokens) {
        Tensor x = norm.forward(tokens);
        int b = x.dim(0), d = x.dim(2);
        return head.forward(LayoutOps.slice(x, 1, 0, 1).reshape(b, d));
    }

    @Override
    public ViTConfig architecture() {
        return config;
    }

    @Override
    public int numBlocks() {
        return blocks.size();
    }

    @Override
    public Tensor forwardStem(Tensor images) {
        return embed(images);
    }

    @Override
    public Tensor forwardBlock(int index, Tensor x, Rng rng) {
        return blocks.get(index).forward(x, rng);
    }

    @Override
    public Tensor forwardHead(Tensor x) {
        return headOf(x);
    }

    public List<Block> blocks() {
        return blocks;
    }

    /** A parameter-less container that gives its child a name (patch_embed.proj). */
    private static final class Wrapper extends Module {
        Wrapper(String name, Module inner) {
            child(name, inner);
        }
    }
}
