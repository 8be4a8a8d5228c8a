package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Normalization;
import jcuda.driver.CUdeviceptr;

import static dma.engine.cuda.CudaBackend.ptr;

/**
 * LayerNorm, LayerNorm over channels and BatchNorm2d (kernels/src/main/cuda/normalization.cu). Row statistics take
 * one warp per row; per-channel statistics and every parameter gradient are double partial sums per chunk of rows
 * (or positions) in a scratch buffer, added up in chunk order by a second kernel: deterministic, no atomics. The
 * scratch is freed right after the kernels that read it are queued (the allocator is stream-ordered).
 */
final class CudaNormalization implements Normalization {
    private static final String MODULE = "normalization";
    /** Threads per block of the row kernels (one warp per row) and of the block reductions. */
    private static final int ROW_BLOCK = 128, REDUCE_BLOCK = 256;
    /** layernorm_param_partials: 32 columns × 8 warps per block, fixed in the kernel. */
    private static final int TILE_COLUMNS = 32, TILE_BLOCK = 256;
    /** Each partial sum covers at least this many elements, and there are at most MAX_CHUNKS of them. */
    private static final int CHUNK_ELEMENTS = 2048, MAX_CHUNKS = 64, MAX_ROW_CHUNKS = 128, CHUNK_ROWS = 32;
    private static final long PAIR_BYTES = 16; // one double2 partial

    private final CudaBackend backend;

    CudaNormalization(CudaBackend backend) {
        this.backend = backend;
    }

    /** How many partial sums to split {@code count} elements into: a function of the sizes alone, so results do not depend on the GPU. */
    static int chunks(long count, int perChunk, int max) {
        return (int) Math.max(1, Math.min(max, (count + perChunk - 1) / perChunk));
    }

    private int rowGrid(int rows) {
        return backend.blocksFor(32L * rows, ROW_BLOCK);
    }

    // ---------------------------------------------------------------- LayerNorm

    @Override
    public void layerNorm(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd, int rows, int cols, float eps) {
        if (rows == 0) return;
        backend.launch(MODULE, "layernorm_forward", rowGrid(rows), 1, ROW_BLOCK, 0,
                ptr(in), ptr(weight), ptr(bias), ptr(out), ptr(mean), ptr(rstd), rows, cols, eps);
    }

    @Override
    public void layerNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                  Storage gradIn, Storage gradWeight, Storage gradBias, int rows, int cols) {
        if (rows == 0 || cols == 0) return;
        if (gradIn != null)
            backend.launch(MODULE, "layernorm_backward_input", rowGrid(rows), 1, ROW_BLOCK, 0,
                    ptr(gradOut), ptr(in), ptr(weight), ptr(mean), ptr(rstd), ptr(gradIn), rows, cols);
        if (gradWeight == null && gradBias == null) return;
        int chunks = chunks(rows, CHUNK_ROWS, MAX_ROW_CHUNKS);
        Storage partials = backend.allocate(PAIR_BYTES * chunks * cols);
        backend.launch(MODULE, "layernorm_param_partials", (cols + TILE_COLUMNS - 1) / TILE_COLUMNS, chunks, TILE_BLOCK, 0,
                ptr(gradOut), ptr(in), ptr(mean), ptr(rstd), rows, cols, chunks, ptr(partials));
        addPartials(ptr(partials), chunks, cols, gradWeight, gradBias, null, 0);
        backend.free(partials);
    }

    /** accA[j] += Σ_chunks partials.a, accB[j] += Σ_chunks partials.b (null: skipped); means gets (b, a)/count per column. */
    private void addPartials(CUdeviceptr partials, int chunks, int cols, Storage accA, Storage accB, CUdeviceptr means, double count) {
        backend.launch1d(MODULE, "add_partials", cols, REDUCE_BLOCK, partials, chunks, cols, ptr(accA), ptr(accB), means, count);
    }

    // ---------------------------------------------------------------- LayerNorm over the channels of [n, c, hw]

    @Override
    public void layerNormChannels(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                                  int n, int c, int hw, float eps) {
        long positions = (long) n * hw;
        if (positions == 0) return;
        backend.launch1d(MODULE, "layernorm_channels_forward", positions, ROW_BLOCK,
                ptr(in), ptr(weight), ptr(bias), ptr(out), ptr(mean), ptr(rstd), n, c, hw, eps);
    }

    @Override
    public void layerNormChannelsBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                          Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw) {
        long positions = (long) n * hw;
        if (positions == 0 || c == 0) return;
        if (gradIn != null)
            backend.launch1d(MODULE, "layernorm_channels_backward_input", positions, ROW_BLOCK,
                    ptr(gradOut), ptr(in), ptr(weight), ptr(mean), ptr(rstd), ptr(gradIn), n, c, hw);
        if (gradWeight == null && gradBias == null) return;
        int chunks = chunks(positions, CHUNK_ELEMENTS, MAX_CHUNKS);
        Storage partials = backend.allocate(PAIR_BYTES * chunks * c);
        backend.launch(MODULE, "channel_grad_partials", c, chunks, REDUCE_BLOCK, 0,
                ptr(gradOut), ptr(in), ptr(mean), ptr(rstd), true, (CUdeviceptr) null, n, c, hw, chunks, ptr(partials));
        addPartials(ptr(partials), chunks, c, gradWeight, gradBias, null, 0);
        backend.free(partials);
    }

    // ---------------------------------------------------------------- BatchNorm2d over [n, c, hw]

    @Override
    public void batchNormTrain(Storage in, Storage weight, Storage bias, Storage out, Storage mean, Storage rstd,
                               Storage runningMean, Storage runningVar, int n, int c, int hw, float eps, float momentum,
                               Storage residual, boolean relu) {
        long count = (long) n * hw;
        if (count == 0 || c == 0) return;
        int chunks = chunks(count, CHUNK_ELEMENTS, MAX_CHUNKS);
        long pairs = (long) chunks * c;
        // two-pass statistics as on the CPU: Σx, then Σ(x − mean)² with the mean from the first pass
        Storage scratch = backend.allocate(2 * PAIR_BYTES * pairs);
        CUdeviceptr sums = ptr(scratch);
        CUdeviceptr squares = ptr(scratch, PAIR_BYTES / 4 * pairs);
        backend.launch(MODULE, "channel_sum_partials", c, chunks, REDUCE_BLOCK, 0, ptr(in), n, c, hw, chunks, sums);
        backend.launch(MODULE, "channel_sq_partials", c, chunks, REDUCE_BLOCK, 0, ptr(in), sums, n, c, hw, chunks, squares);
        backend.launch1d(MODULE, "batchnorm_stats", c, REDUCE_BLOCK, sums, squares, chunks, n, c, hw, eps, momentum,
                ptr(mean), ptr(rstd), ptr(runningMean), ptr(runningVar));
        backend.free(scratch);
        backend.launch1d(MODULE, "batchnorm_apply", count * c, REDUCE_BLOCK,
                ptr(in), ptr(weight), ptr(bias), ptr(mean), ptr(rstd), ptr(residual), relu, ptr(out), n, c, hw);
    }

    @Override
    public void batchNormEval(Storage in, Storage weight, Storage bias, Storage runningMean, Storage runningVar,
                              Storage out, int n, int c, int hw, float eps, Storage residual, boolean relu) {
        long total = (long) n * c * hw;
        if (total == 0) return;
        backend.launch1d(MODULE, "batchnorm_eval_apply", total, REDUCE_BLOCK,
                ptr(in), ptr(weight), ptr(bias), ptr(runningMean), ptr(runningVar), ptr(residual), relu, ptr(out), n, c, hw, eps);
    }

    @Override
    public void batchNormBackward(Storage gradOut, Storage in, Storage weight, Storage mean, Storage rstd,
                                  Storage gradIn, Storage gradWeight, Storage gradBias, int n, int c, int hw, boolean training,
                                  Storage reluOut, Storage gradResidual, boolean overwriteGradIn, boolean overwriteGradResidual) {
        long count = (long) n * hw;
        if (count == 0 || c == 0 || (gradIn == null && gradWeight == null && gradBias == null && gradResidual == null)) return;
        // the kernels add; a new gradient is zeroed first (on the GPU a memset is cheap next to the kernels)
        if (overwriteGradIn && gradIn != null) backend.zero(gradIn);
        if (overwriteGradResidual && gradResidual != null) backend.zero(gradResidual);
        // the channel sums are needed for the parameter gradients, and for gradIn in training mode only
        boolean meansForInput = training && gradIn != null;
        Storage scratch = null;
        CUdeviceptr means = null;
        if (gradWeight != null || gradBias != null || meansForInput) {
            int chunks = chunks(count, CHUNK_ELEMENTS, MAX_CHUNKS);
            long pairs = (long) chunks * c;
            scratch = backend.allocate(PAIR_BYTES * pairs + (meansForInput ? 8L * c : 0));
            if (meansForInput) means = ptr(scratch, PAIR_BYTES / 4 * pairs);
            backend.launch(MODULE, "channel_grad_partials", c, chunks, REDUCE_BLOCK, 0,
                    ptr(gradOut), ptr(in), ptr(mean), ptr(rstd), false, ptr(reluOut), n, c, hw, chunks, ptr(scratch));
            addPartials(ptr(scratch), chunks, c, gradWeight, gradBias, means, count);
        }
        if (gradIn != null || gradResidual != null)
            backend.launch1d(MODULE, "batchnorm_backward_input", count * c, REDUCE_BLOCK,
                    ptr(gradOut), ptr(in), ptr(weight), ptr(mean), ptr(rstd), means, ptr(reluOut), ptr(gradIn), ptr(gradResidual), n, c, hw);
        if (scratch != null) backend.free(scratch);
    }
}
