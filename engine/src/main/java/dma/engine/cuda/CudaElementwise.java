package dma.engine.cuda;

import dma.engine.Storage;
import dma.engine.kernels.Elementwise;

import java.util.Arrays;

import static dma.engine.cuda.CudaBackend.ptr;

/**
 * Pointwise kernels (kernels/src/main/cuda/elementwise.cu). Broadcasting is planned here: axes of size 1 are
 * dropped and neighbouring axes merged wherever both operands' strides allow, so the common layouts (same
 * shape, a bias or a scalar repeated along leading axes) run as one periodic pass, and only what is left
 * goes to the strided kernels, which take up to 6 merged axes as arguments.
 */
final class CudaElementwise implements Elementwise {
    private static final String MODULE = "elementwise";
    private static final int BLOCK = 256;
    /** Axes the strided binary kernel takes (after merging), and axis groups the general reduceBroadcast takes. */
    static final int MAX_AXES = 6, MAX_GROUP_AXES = 3;
    /** Blocks a split channel reduction aims at; a function of nothing but constants so results do not depend on the GPU. */
    private static final int TARGET_BLOCKS = 1024;

    private final CudaBackend backend;

    CudaElementwise(CudaBackend backend) {
        this.backend = backend;
    }

    // ---------------------------------------------------------------- broadcasting

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] shape) {
        requireRank("binary", shape, aStrides, bStrides);
        int n = count("binary", shape);
        if (n == 0) return;
        Axes axes = Axes.merge(shape, aStrides, bStrides);
        int aPeriod = axes.period(axes.s1), bPeriod = axes.period(axes.s2);
        if (aPeriod > 0 && bPeriod > 0) {
            backend.launch1d(MODULE, "binary_periodic", n, BLOCK, op.code, ptr(a), aPeriod, ptr(b), bPeriod, ptr(out), n);
            return;
        }
        int rank = axes.rank();
        if (rank > MAX_AXES)
            throw new IllegalArgumentException("cuda elementwise.binary: shape " + Arrays.toString(shape) + " with strides "
                    + Arrays.toString(aStrides) + " and " + Arrays.toString(bStrides) + " leaves " + rank
                    + " axes after merging, more than the " + MAX_AXES + " the kernel takes");
        Object[] args = new Object[6 + 3 * MAX_AXES];
        args[0] = op.code;
        args[1] = ptr(a);
        args[2] = ptr(b);
        args[3] = ptr(out);
        args[4] = n;
        args[5] = rank;
        // innermost first, padded with size-1 axes
        for (int d = 0; d < MAX_AXES; d++) {
            int axis = rank - 1 - d;
            args[6 + d] = axis >= 0 ? axes.size[axis] : 1;
            args[6 + MAX_AXES + d] = axis >= 0 ? axes.s1[axis] : 0;
            args[6 + 2 * MAX_AXES + d] = axis >= 0 ? axes.s2[axis] : 0;
        }
        backend.launch1d(MODULE, "binary_strided", n, BLOCK, args);
    }

    @Override
    public void reduceBroadcast(Storage src, int[] shape, Storage dst, int[] dstStrides, float alpha) {
        if (dst == null) return;
        int n = count("reduceBroadcast", shape);
        if (dstStrides.length != shape.length)
            throw new IllegalArgumentException("cuda elementwise.reduceBroadcast: " + dstStrides.length + " strides for shape "
                    + Arrays.toString(shape));
        if (n == 0) return;
        Axes axes = Axes.merge(shape, Axes.contiguous(shape), dstStrides);
        int rank = axes.rank();
        // a dst stride of 0 marks an axis summed over; merging leaves kept and reduced axes alternating
        int reducedAxis = -1, reducedAxes = 0;
        for (int d = 0; d < rank; d++)
            if (axes.s2[d] == 0) {
                reducedAxis = d;
                reducedAxes++;
            }
        if (reducedAxes == 0 && rank <= 1 && (rank == 0 || axes.s2[0] == 1)) {
            axpy(alpha, src, dst, n);
            return;
        }
        if (reducedAxes == 1 && reducedAxis <= 1 && rank - 1 - reducedAxis <= 1) {
            // [outer kept?, reduced, inner kept?] with dst dense over the kept axes: a sum over the middle axis
            int outer = reducedAxis > 0 ? axes.size[reducedAxis - 1] : 1;
            int inner = reducedAxis < rank - 1 ? axes.size[reducedAxis + 1] : 1;
            boolean innerDense = reducedAxis == rank - 1 || axes.s2[reducedAxis + 1] == 1;
            boolean outerDense = reducedAxis == 0 || axes.s2[reducedAxis - 1] == inner;
            if (innerDense && outerDense) {
                backend.reductions().sum(src, dst, outer, axes.size[reducedAxis], inner, alpha, true);
                return;
            }
        }
        reduceBroadcastGeneral(src, dst, alpha, axes, shape, dstStrides);
    }

    /** One warp per dst element over the reduced axes, wherever they are. */
    private void reduceBroadcastGeneral(Storage src, Storage dst, float alpha, Axes axes, int[] shape, int[] dstStrides) {
        int rank = axes.rank();
        int[] keptSize = new int[MAX_GROUP_AXES], keptSrc = new int[MAX_GROUP_AXES], keptDst = new int[MAX_GROUP_AXES];
        int[] redSize = new int[MAX_GROUP_AXES], redSrc = new int[MAX_GROUP_AXES];
        Arrays.fill(keptSize, 1);
        Arrays.fill(redSize, 1);
        int keptRank = 0, redRank = 0, kept = 1, reduced = 1;
        for (int d = rank - 1; d >= 0; d--) { // innermost first
            boolean isKept = axes.s2[d] != 0;
            if ((isKept ? keptRank : redRank) == MAX_GROUP_AXES)
                throw new IllegalArgumentException("cuda elementwise.reduceBroadcast: shape " + Arrays.toString(shape)
                        + " with dst strides " + Arrays.toString(dstStrides) + " has more than " + MAX_GROUP_AXES
                        + " separate " + (isKept ? "kept" : "reduced") + " axis groups after merging (at most "
                        + MAX_AXES + " alternating groups are supported)");
            if (isKept) {
                keptSize[keptRank] = axes.size[d];
                keptSrc[keptRank] = axes.s1[d];
                keptDst[keptRank++] = axes.s2[d];
                kept *= axes.size[d];
            } else {
                redSize[redRank] = axes.size[d];
                redSrc[redRank++] = axes.s1[d];
                reduced *= axes.size[d];
            }
        }
        long threads = 32L * kept;
        backend.launch1d(MODULE, "reduce_broadcast", threads, BLOCK, ptr(src), ptr(dst), kept, reduced, alpha,
                keptRank, keptSize[0], keptSize[1], keptSize[2], keptSrc[0], keptSrc[1], keptSrc[2],
                keptDst[0], keptDst[1], keptDst[2],
                redRank, redSize[0], redSize[1], redSize[2], redSrc[0], redSrc[1], redSrc[2]);
    }

    /**
     * A shape with two stride sets, axes of size 1 dropped and each axis merged into its outer neighbour where both
     * stride sets step over it contiguously (stride[d] = size[d+1]·stride[d+1]; broadcast axes, 0 and 0, merge too).
     */
    static final class Axes {
        final int[] size, s1, s2;

        private Axes(int[] size, int[] s1, int[] s2) {
            this.size = size;
            this.s1 = s1;
            this.s2 = s2;
        }

        int rank() {
            return size.length;
        }

        static int[] contiguous(int[] shape) {
            int[] s = new int[shape.length];
            for (int i = shape.length - 1, acc = 1; i >= 0; i--) {
                s[i] = acc;
                acc *= shape[i];
            }
            return s;
        }

        static Axes merge(int[] shape, int[] stridesA, int[] stridesB) {
            int[] size = new int[shape.length], a = new int[shape.length], b = new int[shape.length];
            int r = 0;
            for (int d = 0; d < shape.length; d++) {
                if (shape[d] == 1) continue;
                if (r > 0 && a[r - 1] == shape[d] * stridesA[d] && b[r - 1] == shape[d] * stridesB[d]) {
                    size[r - 1] *= shape[d];
                    a[r - 1] = stridesA[d];
                    b[r - 1] = stridesB[d];
                } else {
                    size[r] = shape[d];
                    a[r] = stridesA[d];
                    b[r++] = stridesB[d];
                }
            }
            return new Axes(Arrays.copyOf(size, r), Arrays.copyOf(a, r), Arrays.copyOf(b, r));
        }

        /**
         * The period p when the operand with these strides is a dense block repeated along the leading axes
         * (element i of the output reads element i mod p), else −1. Dense gives the element count; a scalar 1.
         */
        int period(int[] strides) {
            int lead = 0;
            while (lead < rank() && strides[lead] == 0) lead++;
            int p = 1;
            for (int d = rank() - 1; d >= lead; d--) {
                if (strides[d] != p) return -1;
                p *= size[d];
            }
            return p;
        }
    }

    private static void requireRank(String op, int[] shape, int[] s1, int[] s2) {
        if (s1.length != shape.length || s2.length != shape.length)
            throw new IllegalArgumentException("cuda elementwise." + op + ": strides " + Arrays.toString(s1) + " and "
                    + Arrays.toString(s2) + " for shape " + Arrays.toString(shape));
    }

    private static int count(String op, int[] shape) {
        long n = 1;
        for (int s : shape) n *= s;
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cuda elementwise." + op + ": " + n + " elements, over the 2^31 − 1 the kernels index");
        return (int) n;
    }

    // ---------------------------------------------------------------- activations and scales

    @Override
    public void activation(Activation f, Storage in, Storage out, int n) {
        backend.launch1d(MODULE, "activation_forward", n, BLOCK, f.code, ptr(in), ptr(out), n);
    }

    @Override
    public void activationBackward(Activation f, Storage in, Storage gradOut, Storage gradIn, int n) {
        if (gradIn == null) return;
        backend.launch1d(MODULE, "activation_backward", n, BLOCK, f.code, ptr(in), ptr(gradOut), ptr(gradIn), n);
    }

    /** Composed: gradIn zeroed first when not accumulating, then the accumulating kernel. */
    @Override
    public void activationBackward(Activation f, Storage in, Storage gradOut, Storage gradIn, int n, boolean accumulate) {
        if (gradIn == null) return;
        if (!accumulate) backend.zero(gradIn);
        activationBackward(f, in, gradOut, gradIn, n);
    }

    @Override
    public void scale(Storage in, Storage out, float alpha, int n) {
        backend.launch1d(MODULE, "scale", n, BLOCK, ptr(in), ptr(out), alpha, n);
    }

    @Override
    public void scaleChannels(Storage in, Storage scale, Storage out, int outer, int channels, int inner) {
        int n = channelElements(outer, channels, inner);
        if (n == 0) return;
        backend.launch1d(MODULE, "scale_channels", n, BLOCK, ptr(in), ptr(scale), ptr(out), n, channels, inner, false);
    }

    /**
     * gradIn on the pointwise kernel (accumulating). gradScale is a per-channel sum over the outer and inner axes,
     * cut into slices of the outer axis when there are few channels to spread over the GPU; the slice count depends on
     * the shape alone and the slices are added in order, so the result does not change from run to run.
     */
    @Override
    public void scaleChannelsBackward(Storage gradOut, Storage in, Storage scale, Storage gradIn, Storage gradScale,
                                      int outer, int channels, int inner) {
        int n = channelElements(outer, channels, inner);
        if (n == 0) return;
        if (gradIn != null)
            backend.launch1d(MODULE, "scale_channels", n, BLOCK, ptr(gradOut), ptr(scale), ptr(gradIn), n, channels, inner, true);
        if (gradScale == null) return;
        boolean channelsLast = inner == 1;
        // blocks without splitting: 32-channel tiles (channels-last) or one per channel
        int units = channelsLast ? ceilDiv(channels, 32) : channels;
        int minOuterPerSlice = channelsLast ? 64 : Math.max(1, 8192 / inner);
        int splits = units >= TARGET_BLOCKS ? 1
                : Math.max(1, Math.min(Math.min(ceilDiv(outer, minOuterPerSlice), ceilDiv(TARGET_BLOCKS, units)), 65535));
        Storage partials = splits > 1 ? backend.allocate(8L * splits * channels) : null;
        try {
            int gridX = splits > 1 ? units : Math.min(units, backend.multiprocessors() * 32);
            if (channelsLast)
                backend.launch(MODULE, "scale_channels_grad_cols", gridX, splits, BLOCK, 0, ptr(gradOut), ptr(in), ptr(partials),
                        ptr(gradScale), outer, channels, splits);
            else
                backend.launch(MODULE, "scale_channels_grad_rows", gridX, splits, BLOCK, 0, ptr(gradOut), ptr(in), ptr(partials),
                        ptr(gradScale), outer, channels, inner, splits);
            if (partials != null)
                backend.launch1d(MODULE, "scale_channels_grad_finish", channels, BLOCK, ptr(partials), ptr(gradScale), channels, splits);
        } finally {
            // the stream orders the kernels before any later use of the block
            if (partials != null) backend.free(partials);
        }
    }

    private static int channelElements(int outer, int channels, int inner) {
        long n = (long) outer * channels * inner;
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cuda elementwise.scaleChannels: " + outer + "×" + channels + "×" + inner
                    + " elements, over the 2^31 − 1 the kernels index");
        return (int) n;
    }

    static int ceilDiv(long a, long b) {
        return (int) ((a + b - 1) / b);
    }

    @Override
    public void axpy(float alpha, Storage x, Storage y, int n) {
        if (y == null) return;
        backend.launch1d(MODULE, "axpy", n, BLOCK, alpha, ptr(x), ptr(y), n);
    }

    @Override
    public void fill(Storage out, int offset, int n, float value) {
        backend.launch1d(MODULE, "fill", n, BLOCK, ptr(out, offset), n, value);
    }

    // ---------------------------------------------------------------- dropout and drop path

    @Override
    public void dropout(Storage in, Storage out, int n, float p, long seed) {
        backend.launch1d(MODULE, "dropout", n, BLOCK, ptr(in), ptr(out), n, p, keepScale(p), seed);
    }

    @Override
    public void dropoutBackward(Storage gradOut, Storage gradIn, int n, float p, long seed) {
        if (gradIn == null) return;
        backend.launch1d(MODULE, "dropout_backward", n, BLOCK, ptr(gradOut), ptr(gradIn), n, p, keepScale(p), seed);
    }

    @Override
    public void dropPath(Storage in, Storage out, int rows, int rowLen, float p, long seed) {
        launchRows("drop_path", rows, rowLen, ptr(in), ptr(out), rows, rowLen, p, keepScale(p), seed);
    }

    @Override
    public void dropPathBackward(Storage gradOut, Storage gradIn, int rows, int rowLen, float p, long seed) {
        if (gradIn == null) return;
        launchRows("drop_path_backward", rows, rowLen, ptr(gradOut), ptr(gradIn), rows, rowLen, p, keepScale(p), seed);
    }

    /** The float the CPU reference scales kept elements by. */
    private static float keepScale(float p) {
        return 1f / (1f - p);
    }

    /** Rows on grid y (one random draw per row and block), each row's elements on grid x. */
    private void launchRows(String kernel, int rows, int rowLen, Object... args) {
        int gridY = Math.max(1, Math.min(rows, 65535));
        int perRow = Math.max(1, ceilDiv(backend.multiprocessors() * 32L, gridY));
        int gridX = Math.max(1, Math.min(ceilDiv(rowLen, BLOCK), perRow));
        backend.launch(MODULE, kernel, gridX, gridY, BLOCK, 0, args);
    }

    // ---------------------------------------------------------------- casts and random numbers

    @Override
    public void castToBf16(Storage in, Storage out, int n) {
        backend.launch1d(MODULE, "cast_to_bf16", n, BLOCK, ptr(in), ptr(out), n);
    }

    @Override
    public void castToF32(Storage in, Storage out, int n) {
        backend.launch1d(MODULE, "cast_to_f32", n, BLOCK, ptr(in), ptr(out), n);
    }

    @Override
    public void randomUniform(Storage out, int n, long seed, float low, float high) {
        backend.launch1d(MODULE, "random_uniform", n, BLOCK, ptr(out), n, seed, low, high - low);
    }

    @Override
    public void randomNormal(Storage out, int n, long seed, float mean, float std, float low, float high) {
        backend.launch1d(MODULE, "random_normal", n, BLOCK, ptr(out), n, seed, mean, std, low, high);
    }
}
