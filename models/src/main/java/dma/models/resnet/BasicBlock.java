package dma.models.resnet;

import dma.engine.Backend;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.engine.ops.ConvolutionOps;
import dma.models.nn.BatchNorm2d;
import dma.models.nn.Conv2d;
import dma.models.nn.Module;

/**
 * relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). The shortcut is He et al.'s option A for CIFAR:
 * identity, or when the stage halves the resolution and doubles the channels, x subsampled by 2 and
 * zero-padded in channels. It has no parameters, which keeps ResNet-20/56/110 at the sizes the paper
 * reports (0.27M/0.85M/1.7M) and the state dict free of projection weights. It runs as a fixed 1×1
 * stride-2 convolution whose weight places input channel c at output channel c + pad: the same numbers,
 * no special kernel.
 */
public final class BasicBlock extends Module {
    final Conv2d conv1, conv2;
    final BatchNorm2d bn1, bn2;
    private final Tensor shortcut;   // fixed option-A weight, not a parameter; null for identity
    private final int stride;

    public BasicBlock(Backend be, long seed, int in, int out, int stride) {
        this.stride = stride;
        conv1 = child("conv1", new Conv2d(be, seed, in, out, 3, stride, 1, false, true));
        bn1 = child("bn1", new BatchNorm2d(be, out));
        conv2 = child("conv2", new Conv2d(be, seed + 1, out, out, 3, 1, 1, false, true));
        bn2 = child("bn2", new BatchNorm2d(be, out));
        if (stride != 1 || in != out) {
            if (out < in) throw new IllegalArgumentException("BasicBlock: option-A shortcut cannot shrink channels " + in + " → " + out);
            float[] w = new float[out * in];
            int pad = (out - in) / 2;
            for (int c = 0; c < in; c++) w[(c + pad) * in + c] = 1f;
            shortcut = Scope.persistent(() -> Tensor.of(be, w, out, in, 1, 1));
        } else {
            shortcut = null;
        }
    }

    public Tensor forward(Tensor x) {
        // the ReLUs and the residual add run inside BatchNorm's passes (fused epilogues), forward and backward
        Tensor h = bn1.forward(conv1.forward(x), null, true);
        Tensor skip = shortcut == null ? x : ConvolutionOps.conv2d(x, shortcut, null, stride, 0);
        return bn2.forward(conv2.forward(h), skip, true);
    }

    @Override
    public void close() {
        super.close();
        if (shortcut != null) shortcut.close();
    }
}
