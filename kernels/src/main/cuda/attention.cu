// The kernels of attention over [bh, t, d]. The composed form (cuBLAS GEMMs around row kernels): the softmax of
// the scores in place, and its backward; as the CPU reference (CpuReductions.softmaxRow / softmaxBackwardRow): max
// in float, the exponentials rounded to float, their sum and the dot product of the backward in double. One warp per
// row.
#include "common.cuh"

// p[row, :] = softmax(p[row, :]) for each of `rows` rows of `cols`.
DMA_KERNEL void softmax_rows_in_place(float* __restrict__ p, int rows, int cols) {
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
        float* r = p + (long long)row * cols;
        float max = -INFINITY;
        for (int j = lane; j < cols; j += 32) max = fmaxf(max, r[j]);
        max = warpMax(max);
        double sum = 0;
        for (int j = lane; j < cols; j += 32) {
            float v = expf(r[j] - max);
            r[j] = v;
            sum += v;
        }
        float inv = (float)(1.0 / warpSumD(sum));
        for (int j = lane; j < cols; j += 32) r[j] *= inv;
    }
}

// ds[row, :] = p·(dp − Σ dp·p), in place over dp (each lane reads its elements before writing them).
DMA_KERNEL void softmax_backward_rows_in_place(const float* __restrict__ p, float* __restrict__ grad, int rows, int cols) {
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
        const float* pr = p + (long long)row * cols;
        float* gr = grad + (long long)row * cols;
        double dot = 0;
        for (int j = lane; j < cols; j += 32) dot += (double)gr[j] * pr[j];
        float d = (float)warpSumD(dot);
        for (int j = lane; j < cols; j += 32) gr[j] = pr[j] * (gr[j] - d);
    }
}
