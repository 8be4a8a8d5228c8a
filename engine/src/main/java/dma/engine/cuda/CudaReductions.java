package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Reductions;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static dma.engine.cuda.CudaBackend.ptr;
import static dma.engine.cuda.CudaElementwise.ceilDiv;

/**
 * Reductions (kernels/src/main/cuda/reductions.cu), summed in double in an order fixed by the shapes. A reduction
 * with too few outputs to fill the GPU is cut into slices along the reduced axis, each writing double partials
 * that a second kernel adds up in slice order; the slice count is a function of the shape and constants only, so
 * the same inputs give the same bits on every run and every GPU.
 */
final class CudaReductions implements Reductions {
    private static final String MODULE = "reductions";
    private static final int BLOCK = 256;
    /** Blocks a sliced reduction aims at. */
    private static final int TARGET_BLOCKS = 1024;
    /** Fewest reduced elements per slice: rows (inner = 1) and 32-column tiles (inner > 1). */
    private static final int MIN_ROW_SLICE = 8192, MIN_COLUMN_SLICE = 64;
    /** Rows up to this long get a warp each in softmax; longer ones a block. */
    private static final int WARP_ROW_MAX = 1024;
    /** Elements per block in the first pass of the sum of squares. */
    private static final int SQUARES_SLICE = 8192;

    private final CudaBackend backend;

    CudaReductions(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void sum(Storage in, Storage out, int outer, int reduced, int inner, float alpha, boolean accumulate) {
        if (out == null) return;
        long outN = (long) outer * inner;
        if (outN == 0) return;
        if (outN * Math.max(reduced, 1) > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cuda reductions.sum: " + outer + "×" + reduced + "×" + inner
                    + " elements, over the 2^31 − 1 the kernels index");
        boolean rows = inner == 1;
        long units = rows ? outer : (long) outer * ceilDiv(inner, 32);
        int minSlice = rows ? MIN_ROW_SLICE : MIN_COLUMN_SLICE;
        int splits = units >= TARGET_BLOCKS ? 1
                : Math.max(1, Math.min(Math.min(ceilDiv(reduced, minSlice), ceilDiv(TARGET_BLOCKS, units)), 65535));
        int slice = ceilDiv(reduced, splits);
        int gridX = (int) (splits > 1 ? units : Math.min(units, backend.multiprocessors() * 32L));
        Storage partials = splits > 1 ? backend.allocate(8L * splits * outN) : null;
        try {
            if (rows) {
                // short rows leave most of a 256-thread block idle: a block as wide as the row (in whole warps)
                int block = Math.min(BLOCK, Math.max(32, Integer.highestOneBit(Math.max(slice - 1, 1)) << 1));
                backend.launch(MODULE, "sum_rows", gridX, splits, block, 0, ptr(in), ptr(out), ptr(partials), outer, reduced,
                        slice, alpha, accumulate);
            } else {
                backend.launch(MODULE, "sum_cols", gridX, splits, BLOCK, 0, ptr(in), ptr(out), ptr(partials), outer, reduced,
                        inner, slice, alpha, accumulate);
            }
            if (partials != null)
                backend.launch1d(MODULE, "sum_finish", outN, BLOCK, ptr(partials), ptr(out), (int) outN, splits, alpha, accumulate);
        } finally {
            // the stream orders the kernels before any later use of the block
            if (partials != null) backend.free(partials);
        }
    }

    @Override
    public void expand(Storage gradOut, Storage gradIn, int outer, int reduced, int inner, float alpha) {
        if (gradIn == null) return;
        long n = (long) outer * reduced * inner;
        if (n == 0) return;
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cuda reductions.expand: " + n + " elements, over the 2^31 − 1 the kernels index");
        backend.launch1d(MODULE, "expand", n, BLOCK, ptr(gradOut), ptr(gradIn), (int) n, reduced * inner, inner, alpha);
    }

    @Override
    public void softmax(Storage in, Storage out, int rows, int cols) {
        launchRows("softmax", rows, cols, ptr(in), ptr(out), rows, cols);
    }

    @Override
    public void softmaxBackward(Storage out, Storage gradOut, Storage gradIn, int rows, int cols) {
        if (gradIn == null) return;
        launchRows("softmax_backward", rows, cols, ptr(out), ptr(gradOut), ptr(gradIn), rows, cols);
    }

    /** A warp per row for rows up to {@link #WARP_ROW_MAX}, else a block per row. */
    private void launchRows(String kernel, int rows, int cols, Object... args) {
        if (cols <= WARP_ROW_MAX)
            backend.launch1d(MODULE, kernel + "_warp", 32L * rows, BLOCK, args);
        else
            backend.launch(MODULE, kernel + "_block", Math.max(1, Math.min(rows, backend.multiprocessors() * 8)), 1, BLOCK, 0, args);
    }

    /** Two passes into a small device buffer ([0]: the total, [1..]: one partial per slice), then an 8-byte download. */
    @Override
    public double sumOfSquares(Storage in, int n) {
        int slices = Math.max(1, Math.min(ceilDiv(n, SQUARES_SLICE), TARGET_BLOCKS));
        int slice = ceilDiv(n, slices);
        Storage buffer = backend.allocate(8L * (slices + 1));
        try {
            backend.launch(MODULE, "sum_squares_partial", slices, 1, BLOCK, 0, ptr(in), n, slice, ptr(buffer, 2));
            backend.launch(MODULE, "sum_squares_finish", 1, 1, BLOCK, 0, ptr(buffer, 2), slices, ptr(buffer));
            byte[] total = backend.downloadBytes(buffer, 8);
            return ByteBuffer.wrap(total).order(ByteOrder.LITTLE_ENDIAN).getDouble();
        } finally {
            backend.free(buffer);
        }
    }
}
