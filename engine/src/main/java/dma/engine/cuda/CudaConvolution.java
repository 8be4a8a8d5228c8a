package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Convolution;

import static dma.engine.cuda.CudaBackend.ptr;

/**
 * Depthwise convolution (kernels/src/main/cuda/convolution.cu): forward and input gradient one thread per pixel;
 * weight and bias gradients as double partial sums per (channel, chunk of output positions) in a scratch buffer,
 * added up in chunk order by a second kernel (deterministic, no atomics).
 */
final class CudaConvolution implements Convolution {
    private static final String MODULE = "convolution";
    private static final int BLOCK = 256;
    /** Each partial sum covers at least this many output positions of one channel, and there are at most MAX_CHUNKS. */
    private static final int CHUNK_POSITIONS = 2048, MAX_CHUNKS = 64;

    private final CudaBackend backend;

    CudaConvolution(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void depthwiseConv2d(Storage in, Storage weight, Storage bias, Storage out, int n, int c, int h, int w,
                                int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow) {
        long total = (long) n * c * oh * ow;
        if (total == 0) return;
        backend.launch1d(MODULE, "depthwise_forward", total, BLOCK, ptr(in), ptr(weight), ptr(bias), ptr(out),
                n, c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow);
    }

    @Override
    public void depthwiseConv2dBackward(Storage gradOut, Storage in, Storage weight, Storage gradIn, Storage gradWeight, Storage gradBias,
                                        int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW,
                                        int oh, int ow) {
        long inputs = (long) n * c * h * w, positions = (long) n * oh * ow;
        if (gradIn != null && inputs > 0)
            backend.launch1d(MODULE, "depthwise_backward_input", inputs, BLOCK, ptr(gradOut), ptr(weight), ptr(gradIn),
                    n, c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow);
        if ((gradWeight == null && gradBias == null) || positions == 0 || c == 0) return;
        int taps = kh * kw;
        int chunks = CudaNormalization.chunks(positions, CHUNK_POSITIONS, MAX_CHUNKS);
        // taps [firstTap, lastTap) of kh·kw weight taps and one bias "tap"
        int firstTap = gradWeight != null ? 0 : taps, lastTap = gradBias != null ? taps + 1 : taps;
        Storage partials = backend.allocate(8L * chunks * c * (taps + 1));
        backend.launch(MODULE, "depthwise_param_partials", c, chunks, BLOCK, 0, ptr(gradOut), ptr(in),
                n, c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow, chunks, firstTap, lastTap, ptr(partials));
        backend.launch1d(MODULE, "depthwise_param_sums", (long) c * (taps + 1), BLOCK, ptr(partials), chunks, c, taps,
                ptr(gradWeight), ptr(gradBias));
        backend.free(partials);
    }
}
