// Pointwise kernels: broadcasting arithmetic and its backward, activations, scales, dropout and drop path,
// casts, fills and counter-based random numbers. The CPU reference is dma.engine.cpu.CpuElementwise; where its
// results must match bit for bit (random numbers, dropout masks) the arithmetic is written out with _rn
// intrinsics so nvcc does not contract it into FMAs that Java does not do.
#include "common.cuh"
#include "codes.cuh"  // BINARY_OP_* and ACTIVATION_*: the codes of Elementwise.BinaryOp and Activation

__device__ __forceinline__ float applyOp(int op, float x, float y) {
    switch (op) {
        case BINARY_OP_ADD: return x + y;
        case BINARY_OP_SUB: return x - y;
        case BINARY_OP_MUL: return x * y;
        case BINARY_OP_DIV:
        default: return x / y;  // the Java side passes no other code (KernelCodes checks the two sides agree)
    }
}

// ------------------------------------------------------------------ broadcasting arithmetic

// Each operand repeats with a period: element i of out reads a[i % aPeriod] and b[i % bPeriod]. A period of n
// is a dense operand, a shorter one a dense trailing block repeated over leading axes (a bias, a position
// embedding), 1 a scalar: the host sends every such case here, the strided kernel gets the rest.
DMA_KERNEL void binary_periodic(int op, const float* a, int aPeriod, const float* b, int bPeriod, float* out, int n) {
    GRID_STRIDE(i, n) {
        unsigned k = (unsigned)i;
        unsigned ia = aPeriod == n ? k : k % (unsigned)aPeriod;
        unsigned ib = bPeriod == n ? k : k % (unsigned)bPeriod;
        out[i] = applyOp(op, a[ia], b[ib]);
    }
}

// Up to 6 axes (after the host merged the ones it could), innermost first: sizes s*, element strides of a (a*)
// and of b (b*); out is contiguous.
DMA_KERNEL void binary_strided(int op, const float* a, const float* b, float* out, int n, int rank,
                               int s0, int s1, int s2, int s3, int s4, int s5,
                               int a0, int a1, int a2, int a3, int a4, int a5,
                               int b0, int b1, int b2, int b3, int b4, int b5) {
    const int size[6] = {s0, s1, s2, s3, s4, s5};
    const int as[6] = {a0, a1, a2, a3, a4, a5};
    const int bs[6] = {b0, b1, b2, b3, b4, b5};
    GRID_STRIDE(i, n) {
        unsigned rest = (unsigned)i;
        int ao = 0, bo = 0;
#pragma unroll
        for (int d = 0; d < 6; d++) {
            if (d == rank) break;
            unsigned c = rest % (unsigned)size[d];
            rest /= (unsigned)size[d];
            ao += (int)c * as[d];
            bo += (int)c * bs[d];
        }
        out[i] = applyOp(op, a[ao], b[bo]);
    }
}

// Offset of flat index `flat` over up to 3 axes given innermost first.
__device__ __forceinline__ int offset3(unsigned flat, int rank, const int* size, const int* stride) {
    int off = 0;
#pragma unroll
    for (int d = 0; d < 3; d++) {
        if (d == rank) break;
        off += (int)(flat % (unsigned)size[d]) * stride[d];
        flat /= (unsigned)size[d];
    }
    return off;
}

// The backward of broadcasting where the broadcast axes are interleaved with kept ones (the host hands the
// common layouts to the sum kernels): one warp per dst element sums its `reduced` source elements in double,
// always in the same order, so the result does not change from run to run. Kept axes: sizes k*, source strides
// ks*, dst strides kd*; reduced axes: sizes r*, source strides rs*; innermost first.
DMA_KERNEL void reduce_broadcast(const float* src, float* dst, int kept, int reduced, float alpha,
                                 int keptRank, int k0, int k1, int k2, int ks0, int ks1, int ks2, int kd0, int kd1, int kd2,
                                 int redRank, int r0, int r1, int r2, int rs0, int rs1, int rs2) {
    const int kSize[3] = {k0, k1, k2}, kSrc[3] = {ks0, ks1, ks2}, kDst[3] = {kd0, kd1, kd2};
    const int rSize[3] = {r0, r1, r2}, rSrc[3] = {rs0, rs1, rs2};
    int lane = threadIdx.x & 31;
    long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long j = warp; j < kept; j += warps) {
        int base = offset3((unsigned)j, keptRank, kSize, kSrc);
        double acc = 0.0;
        for (int q = lane; q < reduced; q += 32) acc += src[base + offset3((unsigned)q, redRank, rSize, rSrc)];
        acc = warpSumD(acc);
        if (lane == 0) {
            int d = offset3((unsigned)j, keptRank, kSize, kDst);
            dst[d] += alpha * (float)acc;
        }
    }
}

// ------------------------------------------------------------------ activations

DMA_KERNEL void activation_forward(int f, const float* in, float* out, int n) {
    GRID_STRIDE(i, n) {
        float x = in[i];
        // ACTIVATION_RELU keeps NaN as Java's Math.max(x, 0f) does (fmaxf would turn it into 0)
        out[i] = f == ACTIVATION_GELU ? 0.5f * x * (1.f + erff(x * 0.70710678f)) : (x > 0.f || x != x ? x : 0.f);
    }
}

// gradIn += f'(in)·gradOut; GELU' = Φ(x) + x·φ(x).
DMA_KERNEL void activation_backward(int f, const float* in, const float* gradOut, float* gradIn, int n) {
    GRID_STRIDE(i, n) {
        float x = in[i], g = gradOut[i];
        if (f == ACTIVATION_GELU) {
            float d = 0.5f * (1.f + erff(x * 0.70710678f)) + x * 0.39894228f * expf(-0.5f * x * x);
            gradIn[i] += g * d;
        } else if (x > 0.f) {  // ACTIVATION_RELU
            gradIn[i] += g;
        }
    }
}

// ------------------------------------------------------------------ scales

// out = alpha·in; in and out may be the same array.
DMA_KERNEL void scale(const float* in, float* out, float alpha, int n) {
    GRID_STRIDE(i, n) out[i] = alpha * in[i];
}

// y += alpha·x.
DMA_KERNEL void axpy(float alpha, const float* x, float* y, int n) {
    GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

DMA_KERNEL void fill(float* out, int n, float value) {
    GRID_STRIDE(i, n) out[i] = value;
}

// out[o, c, i] (=, or += when accumulating: the input gradient) in[o, c, i]·scale[c] over [outer, channels, inner].
DMA_KERNEL void scale_channels(const float* in, const float* scale, float* out, int n, int channels, int inner,
                               int accumulate) {
    GRID_STRIDE(i, n) {
        unsigned c = ((unsigned)i / (unsigned)inner) % (unsigned)channels;
        float v = in[i] * scale[c];
        out[i] = accumulate ? out[i] + v : v;
    }
}

// gradScale[c] += Σ_{o,i} gradOut·in, deterministically: blockIdx.y is one of `splits` fixed slices of the outer
// axis; with one slice the block adds to gradScale itself, else it writes a double partial[slice, c] that
// scale_channels_grad_finish adds up in slice order.
__device__ __forceinline__ void storeChannelSum(double sum, float* gradScale, double* partials, int channels, int c,
                                                int splits) {
    if (splits == 1) gradScale[c] += (float)sum;
    else partials[(long long)blockIdx.y * channels + c] = sum;
}

// Channels-last ([outer, channels], inner = 1): a block owns 32 adjacent channels, one per lane (coalesced rows),
// and its 8 warps split the slice's rows; the 8 warp sums are added in warp order.
DMA_KERNEL void scale_channels_grad_cols(const float* gradOut, const float* in, double* partials, float* gradScale,
                                         int outer, int channels, int splits) {
    __shared__ double warpSums[8][32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int slice = (outer + splits - 1) / splits;
    int o0 = blockIdx.y * slice, o1 = min(outer, o0 + slice);
    int tiles = (channels + 31) / 32;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int c = t * 32 + lane;
        double acc = 0.0;
        if (c < channels)
            for (int o = o0 + warp; o < o1; o += 8) {
                long long k = (long long)o * channels + c;
                acc += (double)gradOut[k] * in[k];
            }
        warpSums[warp][lane] = acc;
        __syncthreads();
        if (warp == 0 && c < channels) {
            double sum = 0.0;
            for (int w = 0; w < 8; w++) sum += warpSums[w][lane];
            storeChannelSum(sum, gradScale, partials, channels, c, splits);
        }
        __syncthreads();
    }
}

// Channels-first ([outer, channels, inner], inner > 1): a block per channel and slice walks its (o, i) pairs.
DMA_KERNEL void scale_channels_grad_rows(const float* gradOut, const float* in, double* partials, float* gradScale,
                                         int outer, int channels, int inner, int splits) {
    __shared__ double scratch[32];
    int slice = (outer + splits - 1) / splits;
    int o0 = blockIdx.y * slice, o1 = min(outer, o0 + slice);
    // every index is below n < 2^31: 32-bit division is several times cheaper than 64-bit
    unsigned pairs = (unsigned)max(o1 - o0, 0) * (unsigned)inner;
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        double acc = 0.0;
        for (unsigned q = threadIdx.x; q < pairs; q += blockDim.x) {
            unsigned o = o0 + q / (unsigned)inner, i = q % (unsigned)inner;
            long long k = ((long long)o * channels + c) * inner + i;
            acc += (double)gradOut[k] * in[k];
        }
        acc = blockSumD(acc, scratch);
        if (threadIdx.x == 0) storeChannelSum(acc, gradScale, partials, channels, c, splits);
    }
}

DMA_KERNEL void scale_channels_grad_finish(const double* partials, float* gradScale, int channels, int splits) {
    GRID_STRIDE(c, channels) {
        double sum = 0.0;
        for (int s = 0; s < splits; s++) sum += partials[(long long)s * channels + c];
        gradScale[c] += (float)sum;
    }
}

// ------------------------------------------------------------------ dropout and drop path
// Masks come from the counter RNG exactly as on the CPU: element (or row) k is kept iff uniform(seed, k) >= p.

DMA_KERNEL void dropout(const float* in, float* out, int n, float p, float keepScale, uint64_t seed) {
    GRID_STRIDE(i, n) out[i] = rngUniform(seed, (uint64_t)i) >= p ? in[i] * keepScale : 0.f;
}

DMA_KERNEL void dropout_backward(const float* gradOut, float* gradIn, int n, float p, float keepScale, uint64_t seed) {
    GRID_STRIDE(i, n) if (rngUniform(seed, (uint64_t)i) >= p) gradIn[i] += gradOut[i] * keepScale;
}

// Rows on blockIdx.y (one draw per row and block), the row's elements on x. The kept factor multiplies, so a
// dropped row of inf or NaN gives NaN as on the CPU.
DMA_KERNEL void drop_path(const float* in, float* out, int rows, int rowLen, float p, float keepScale, uint64_t seed) {
    for (int r = blockIdx.y; r < rows; r += gridDim.y) {
        float k = rngUniform(seed, (uint64_t)r) >= p ? keepScale : 0.f;
        long long base = (long long)r * rowLen;
        for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < rowLen; j += (long long)blockDim.x * gridDim.x)
            out[base + j] = in[base + j] * k;
    }
}

DMA_KERNEL void drop_path_backward(const float* gradOut, float* gradIn, int rows, int rowLen, float p, float keepScale,
                                   uint64_t seed) {
    for (int r = blockIdx.y; r < rows; r += gridDim.y) {
        if (rngUniform(seed, (uint64_t)r) < p) continue;
        long long base = (long long)r * rowLen;
        for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < rowLen; j += (long long)blockDim.x * gridDim.x)
            gradIn[base + j] += gradOut[base + j] * keepScale;
    }
}

// ------------------------------------------------------------------ casts

DMA_KERNEL void cast_to_bf16(const float* in, uint16_t* out, int n) {
    GRID_STRIDE(i, n) out[i] = floatToBf16(in[i]);
}

DMA_KERNEL void cast_to_f32(const uint16_t* in, float* out, int n) {
    GRID_STRIDE(i, n) out[i] = bf16ToFloat(in[i]);
}

// ------------------------------------------------------------------ random numbers (bit-identical to the CPU)

// low + span·u in float, rounded after each operation as Java does.
DMA_KERNEL void random_uniform(float* out, int n, uint64_t seed, float low, float span) {
    GRID_STRIDE(i, n) out[i] = __fadd_rn(low, __fmul_rn(span, rngUniform(seed, (uint64_t)i)));
}

// mean + std·z in double, rounded to float; a value outside [low, high] is redrawn at counter + n, + 2n, …
DMA_KERNEL void random_normal(float* out, int n, uint64_t seed, float mean, float std, float low, float high) {
    GRID_STRIDE(i, n) {
        uint64_t counter = (uint64_t)i;
        float v = (float)__dadd_rn((double)mean, __dmul_rn((double)std, rngNormal(seed, counter)));
        while (v < low || v > high) {
            counter += (uint64_t)n;
            v = (float)__dadd_rn((double)mean, __dmul_rn((double)std, rngNormal(seed, counter)));
        }
        out[i] = v;
    }
}
