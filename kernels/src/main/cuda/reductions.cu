// Reductions over the middle axis of [outer, reduced, inner], its backward (expand), row softmax and the sum of
// squares. Sums accumulate in double, as the CPU reference (dma.engine.cpu.CpuReductions) does, and every sum is
// taken in an order fixed by the shapes alone (no atomics), so a result is the same from run to run.
//
// Long reductions are split into slices on blockIdx.y: each block writes a double partial per output and
// sum_finish adds the partials up in slice order. The host picks the slice count from the shapes only.
#include "common.cuh"

// alpha·sum into out[j] (= or +=), or the slice's double partial when the reduced axis is split.
__device__ __forceinline__ void storeSum(double sum, float* out, double* partials, long long outN, long long j,
                                         float alpha, int accumulate) {
    if (gridDim.y == 1) {
        float v = alpha * (float)sum;
        out[j] = accumulate ? out[j] + v : v;
    } else {
        partials[blockIdx.y * outN + j] = sum;
    }
}

// [begin, end) of slice blockIdx.y when `len` elements are cut into gridDim.y slices of `slice` each.
__device__ __forceinline__ void sliceRange(long long len, long long slice, long long& begin, long long& end) {
    begin = (long long)blockIdx.y * slice;
    end = min(len, begin + slice);
}

// inner == 1: a block per output row (and slice); blockDim 32…256 chosen by the row length.
DMA_KERNEL void sum_rows(const float* in, float* out, double* partials, int outer, int reduced, int slice, float alpha,
                         int accumulate) {
    __shared__ double scratch[32];
    long long r0, r1;
    sliceRange(reduced, slice, r0, r1);
    for (int o = blockIdx.x; o < outer; o += gridDim.x) {
        const float* row = in + (long long)o * reduced;
        double acc = 0.0;
        for (long long r = r0 + threadIdx.x; r < r1; r += blockDim.x) acc += row[r];
        acc = blockSumD(acc, scratch);
        if (threadIdx.x == 0) storeSum(acc, out, partials, outer, o, alpha, accumulate);
    }
}

// inner > 1: a block owns 32 adjacent inner columns of one outer index, one per lane, so each warp reads whole
// 128-byte rows; its warps split the (slice of the) reduced rows and their sums are added in warp order.
DMA_KERNEL void sum_cols(const float* in, float* out, double* partials, int outer, int reduced, int inner, int slice,
                         float alpha, int accumulate) {
    __shared__ double warpSums[32][32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    long long r0, r1;
    sliceRange(reduced, slice, r0, r1);
    int tiles = inner / 32 + (inner % 32 != 0);
    long long units = (long long)outer * tiles;
    for (long long u = blockIdx.x; u < units; u += gridDim.x) {
        long long o = u / tiles;
        int col = (int)(u % tiles) * 32 + lane;
        double acc = 0.0;
        if (col < inner) {
            const float* column = in + o * reduced * inner + col;
#pragma unroll 4
            for (long long r = r0 + warp; r < r1; r += warps) acc += column[r * inner];
        }
        warpSums[warp][lane] = acc;
        __syncthreads();
        if (warp == 0 && col < inner) {
            double sum = 0.0;
            for (int w = 0; w < warps; w++) sum += warpSums[w][lane];
            storeSum(sum, out, partials, (long long)outer * inner, o * inner + col, alpha, accumulate);
        }
        __syncthreads();
    }
}

// Adds the slices' partials [splits, outN] in slice order.
DMA_KERNEL void sum_finish(const double* partials, float* out, int outN, int splits, float alpha, int accumulate) {
    GRID_STRIDE(j, outN) {
        double sum = 0.0;
        for (int s = 0; s < splits; s++) sum += partials[(long long)s * outN + j];
        float v = alpha * (float)sum;
        out[j] = accumulate ? out[j] + v : v;
    }
}

// gradIn[o, r, i] += alpha·gradOut[o, i]; span = reduced·inner.
DMA_KERNEL void expand(const float* gradOut, float* gradIn, int n, int span, int inner, float alpha) {
    GRID_STRIDE(k, n) {
        unsigned i = (unsigned)k;
        unsigned o = i / (unsigned)span, c = i % (unsigned)inner;
        gradIn[k] += alpha * gradOut[(long long)o * inner + c];
    }
}

// ------------------------------------------------------------------ row softmax
// A row per warp (short rows: every lane busy, no barriers) or per block (long rows).

template <bool PER_WARP>
struct RowGroup {
    int lane, width;
    long long first, stride;
    float* fscratch;
    double* dscratch;

    __device__ RowGroup(float* f, double* d) : fscratch(f), dscratch(d) {
        if (PER_WARP) {
            lane = threadIdx.x & 31;
            width = 32;
            first = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
            stride = ((long long)gridDim.x * blockDim.x) >> 5;
        } else {
            lane = threadIdx.x;
            width = blockDim.x;
            first = blockIdx.x;
            stride = gridDim.x;
        }
    }
    __device__ float max(float v) { return PER_WARP ? warpMax(v) : blockMax(v, fscratch); }
    __device__ double sum(double v) { return PER_WARP ? warpSumD(v) : blockSumD(v, dscratch); }
};

// y = e^(x − max) / Σ e^(x − max); in and out may be the same array (each element is read before it is written,
// by the thread that writes it).
template <bool PER_WARP>
__device__ void softmaxRows(const float* in, float* out, int rows, int cols) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    RowGroup<PER_WARP> g(fscratch, dscratch);
    for (long long r = g.first; r < rows; r += g.stride) {
        const float* x = in + r * cols;
        float* y = out + r * cols;
        float m = -INFINITY;
        for (int j = g.lane; j < cols; j += g.width) m = fmaxf(m, x[j]);
        m = g.max(m);
        double acc = 0.0;
        for (int j = g.lane; j < cols; j += g.width) acc += expf(x[j] - m);
        float inv = (float)(1.0 / g.sum(acc));
        for (int j = g.lane; j < cols; j += g.width) y[j] = expf(x[j] - m) * inv;
    }
}

// gradIn += y ⊙ (gradOut − Σ_j gradOut·y), the dot in double.
template <bool PER_WARP>
__device__ void softmaxBackwardRows(const float* out, const float* gradOut, float* gradIn, int rows, int cols) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    RowGroup<PER_WARP> g(fscratch, dscratch);
    for (long long r = g.first; r < rows; r += g.stride) {
        const float* y = out + r * cols;
        const float* gy = gradOut + r * cols;
        float* gx = gradIn + r * cols;
        double acc = 0.0;
        for (int j = g.lane; j < cols; j += g.width) acc += (double)gy[j] * y[j];
        float dot = (float)g.sum(acc);
        for (int j = g.lane; j < cols; j += g.width) gx[j] += y[j] * (gy[j] - dot);
    }
}

DMA_KERNEL void softmax_warp(const float* in, float* out, int rows, int cols) { softmaxRows<true>(in, out, rows, cols); }

DMA_KERNEL void softmax_block(const float* in, float* out, int rows, int cols) { softmaxRows<false>(in, out, rows, cols); }

DMA_KERNEL void softmax_backward_warp(const float* out, const float* gradOut, float* gradIn, int rows, int cols) {
    softmaxBackwardRows<true>(out, gradOut, gradIn, rows, cols);
}

DMA_KERNEL void softmax_backward_block(const float* out, const float* gradOut, float* gradIn, int rows, int cols) {
    softmaxBackwardRows<false>(out, gradOut, gradIn, rows, cols);
}

// ------------------------------------------------------------------ sum of squares
// Two passes: block b sums the squares of its slice [b·slice, (b+1)·slice) into partials[b]; one block then adds
// the partials in a fixed order into a double the host downloads.

DMA_KERNEL void sum_squares_partial(const float* in, int n, int slice, double* partials) {
    __shared__ double scratch[32];
    long long begin = (long long)blockIdx.x * slice, end = min((long long)n, begin + slice);
    double acc = 0.0;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
        double v = in[i];
        acc += v * v;
    }
    acc = blockSumD(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

DMA_KERNEL void sum_squares_finish(const double* partials, int count, double* result) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int k = threadIdx.x; k < count; k += blockDim.x) acc += partials[k];
    acc = blockSumD(acc, scratch);
    if (threadIdx.x == 0) *result = acc;
}
