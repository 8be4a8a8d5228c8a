package dma.engine.kernels;

import dma.engine.Storage;

/** Pointwise kernels: broadcasting arithmetic, activations, dropout, casts, fills and seeded random numbers. */
public interface Elementwise {
    /**
     * The CUDA kernels receive {@link #code}, never the ordinal: the same values are named in
     * kernels/src/main/cuda/codes.cuh (BINARY_OP_ADD, ...), and the CUDA backend refuses to load the elementwise
     * kernels if the two differ (dma.engine.cuda.KernelCodes; KernelCodesTest checks the same without a GPU).
     */
    enum BinaryOp {
        ADD(0), SUB(1), MUL(2), DIV(3);

        /** Stable: reordering or adding constants must not change an existing code (codes.cuh holds the same). */
        public final int code;

        BinaryOp(int code) {
            this.code = code;
        }
    }

    /** As {@link BinaryOp}: the kernels receive {@link #code} (codes.cuh: ACTIVATION_GELU, ...). */
    enum Activation {
        GELU(0), RELU(1);

        /** Stable: reordering or adding constants must not change an existing code (codes.cuh holds the same). */
        public final int code;

        Activation(int code) {
            this.code = code;
        }
    }

    /**
     * out = a op b over {@code shape} (out is contiguous of that shape). {@code aStrides}/{@code bStrides}
     * give each operand's element stride per dimension of {@code shape}; 0 marks a broadcast dimension.
     */
    void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] shape);

    /**
     * dst += alpha · src summed over the broadcast dimensions: src is contiguous of {@code shape}, dst is
     * addressed by {@code dstStrides} (0 on every dimension dst is broadcast along). The backward of broadcasting.
     */
    void reduceBroadcast(Storage src, int[] shape, Storage dst, int[] dstStrides, float alpha);

    void activation(Activation f, Storage in, Storage out, int n);

    /** gradIn += f'(in) · gradOut. */
    void activationBackward(Activation f, Storage in, Storage gradOut, Storage gradIn, int n);

    /** gradIn += f'(in) · gradOut when {@code accumulate}, else gradIn = f'(in) · gradOut (gradIn's old contents not read). */
    void activationBackward(Activation f, Storage in, Storage gradOut, Storage gradIn, int n, boolean accumulate);

    /** out = alpha · in (in and out may be the same storage). */
    void scale(Storage in, Storage out, float alpha, int n);

    /**
     * A per-channel scale (ConvNeXt's layer scale) over a tensor viewed as [outer, channels, inner]:
     * out[o, c, i] = in[o, c, i]·scale[c]. Channels-first NCHW is (n, c, h·w); channels-last is (n·h·w, c, 1).
     */
    void scaleChannels(Storage in, Storage scale, Storage out, int outer, int channels, int inner);

    /** Backward of {@link #scaleChannels}: gradIn += gradOut·scale[c]; gradScale[c] += Σ_{o,i} gradOut·in (either may be null). */
    void scaleChannelsBackward(Storage gradOut, Storage in, Storage scale, Storage gradIn, Storage gradScale,
                               int outer, int channels, int inner);

    /** y += alpha · x. */
    void axpy(float alpha, Storage x, Storage y, int n);

    void fill(Storage out, int offset, int n, float value);

    /**
     * Inverted dropout: element i is kept with probability 1−p and scaled by 1/(1−p). The mask is a
     * pure function of (seed, i) ({@link dma.engine.CounterRng}), so backward regenerates it instead of storing it.
     */
    void dropout(Storage in, Storage out, int n, float p, long seed);

    void dropoutBackward(Storage gradOut, Storage gradIn, int n, float p, long seed);

    /** Drop path: row r (one sample of {@code rowLen} elements) is kept with probability 1−p (mask from (seed, r)), scaled by 1/(1−p). */
    void dropPath(Storage in, Storage out, int rows, int rowLen, float p, long seed);

    void dropPathBackward(Storage gradOut, Storage gradIn, int rows, int rowLen, float p, long seed);

    /** float32 → bfloat16 (round to nearest even; NaN stays NaN). out is a BF16 storage. */
    void castToBf16(Storage in, Storage out, int n);

    /** bfloat16 → float32 (exact). in is a BF16 storage. */
    void castToF32(Storage in, Storage out, int n);

    /** Counter-based random numbers: element i depends only on (seed, i), whatever the device or thread count. */
    void randomUniform(Storage out, int n, long seed, float low, float high);

    /** Normal(mean, std), redrawn (with the next counter) outside [low, high] when truncated; pass ±inf for none. */
    void randomNormal(Storage out, int n, long seed, float mean, float std, float low, float high);
}
