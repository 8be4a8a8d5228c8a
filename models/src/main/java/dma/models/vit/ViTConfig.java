package dma.models.vit;

import dma.engine.Backend;
import dma.models.Architecture;

import java.util.Map;

/**
 * The shape of a Vision Transformer. {@code dropPathRate} is the last block's rate; block i drops with
 * {@code dropPathRate · i/(depth−1)} (timm's linspace).
 */
public record ViTConfig(int imgSize, int patchSize, int inChans, int numClasses, int embedDim, int depth,
                        int numHeads, double mlpRatio, double dropPathRate) implements Architecture {
    public ViTConfig {
        require(imgSize > 0 && patchSize > 0 && imgSize % patchSize == 0, "img_size " + imgSize + " must be a positive multiple of patch_size " + patchSize);
        require(inChans > 0, "in_chans must be positive, got " + inChans);
        require(numClasses > 0, "num_classes must be positive, got " + numClasses);
        require(depth > 0, "depth must be positive, got " + depth);
        require(numHeads > 0 && embedDim % numHeads == 0, "embed_dim " + embedDim + " must be divisible by num_heads " + numHeads);
        require(mlpRatio > 0, "mlp_ratio must be positive");
        require(dropPathRate >= 0 && dropPathRate < 1, "drop_path_rate must be in [0, 1), got " + dropPathRate);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("ViT config: " + message);
    }

    public int numPatches() {
        return (imgSize / patchSize) * (imgSize / patchSize);
    }

    public int hiddenDim() {
        return (int) (embedDim * mlpRatio);
    }

    public ViTConfig withDepth(int d) {
        return new ViTConfig(imgSize, patchSize, inChans, numClasses, embedDim, d, numHeads, mlpRatio, dropPathRate);
    }

    @Override
    public ViTConfig withDropPath(double p) {
        return new ViTConfig(imgSize, patchSize, inChans, numClasses, embedDim, depth, numHeads, mlpRatio, p);
    }

    public ViTConfig withClasses(int n) {
        return new ViTConfig(imgSize, patchSize, inChans, n, embedDim, depth, numHeads, mlpRatio, dropPathRate);
    }

    /** Drop-path rate of block i: linspace(0, p, depth)[i]. */
    public double dropPathOf(int block) {
        return depth == 1 ? 0.0 : dropPathRate * block / (depth - 1);
    }

    /** The preset called {@code name}: {@link ViTFamily#preset}, typed. */
    public static ViTConfig preset(String name) {
        return ViTFamily.INSTANCE.preset(name);
    }

    @Override
    public ViTFamily family() {
        return ViTFamily.INSTANCE;
    }

    @Override
    public int blocks() {
        return depth;
    }

    @Override
    public void checkPartition(int[] depths) {
        int sum = 0;
        for (int d : depths) {
            if (d < 1) throw new IllegalArgumentException("divided depths " + java.util.Arrays.toString(depths) + ": every module needs at least one block");
            sum += d;
        }
        if (sum != depth)
            throw new IllegalArgumentException("divided depths " + java.util.Arrays.toString(depths) + " sum to " + sum + ", but the model has depth " + depth);
    }

    @Override
    public ViTConfig withModuleDepths(int[] depths) {
        int sum = 0;
        for (int d : depths) sum += d;
        return withDepth(sum);
    }

    @Override
    public VisionTransformer build(Backend backend, long seed) {
        return new VisionTransformer(backend, this, seed);
    }

    /**
     * Patch embedding, class token and position embedding; per block two LayerNorms, qkv and proj (4·D² + 4·D), fc1 and fc2
     * (2·D·H + H + D); the final norm and the head.
     */
    @Override
    public long stateElements() {
        long d = embedDim, h = hiddenDim(), side = imgSize / patchSize;
        long stem = Architecture.saturatedSum(Architecture.saturatedProduct(d, inChans, patchSize, patchSize), d, d,
                Architecture.saturatedProduct(Architecture.saturatedSum(Architecture.saturatedProduct(side, side), 1), d));
        long block = Architecture.saturatedSum(Architecture.saturatedProduct(4, d, d), Architecture.saturatedProduct(2, d, h),
                Architecture.saturatedProduct(9, d), h);
        long head = Architecture.saturatedSum(2 * d, Architecture.saturatedProduct(numClasses, d), numClasses);
        return Architecture.saturatedSum(stem, Architecture.saturatedProduct(depth, block), head);
    }

    @Override
    public int blockOf(String key) {
        if (key.startsWith("blocks.")) {
            int dot = key.indexOf('.', 7);
            try {
                return Integer.parseInt(key.substring(7, dot < 0 ? key.length() : dot));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ViT: malformed block key '" + key + "'");
            }
        }
        if (key.startsWith("patch_embed.") || key.equals("cls_token") || key.equals("pos_embed")) return STEM;
        if (key.startsWith("norm.") || key.startsWith("head.")) return HEAD;
        throw new IllegalArgumentException("ViT: key '" + key + "' belongs to no part of the model");
    }

    @Override
    public String suffixInBlock(String key) {
        return key.substring(key.indexOf('.', 7) + 1);
    }

    @Override
    public String keyInBlock(int index, String suffix) {
        return "blocks." + index + "." + suffix;
    }

    @Override
    public int[] inputShape(int batch) {
        return new int[]{batch, inChans, imgSize, imgSize};
    }

    /** The config as flat fields (timm's argument names), for checkpoint metadata: {@link ViTFamily#toMap}. */
    @Override
    public Map<String, Object> toMap() {
        return ViTFamily.INSTANCE.toMap(this);
    }
}
