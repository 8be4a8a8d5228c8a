// Shared by every kernel family: the launch conventions, reductions and the counter-based RNG.
//
// Conventions (the Java side, dma.engine.cuda, follows them):
//  - every kernel is extern "C" (unmangled names, looked up by name from the fatbin) and named in snake_case;
//  - sizes are int, element offsets are already applied to the pointers on the Java side;
//  - a backward kernel accumulates (+=) into each gradient and skips a null gradient pointer;
//  - 1-D kernels use grid-stride loops, so any grid size is correct and the host picks one that fills the GPU.
#pragma once
#include <cstdint>
#include <cuda_bf16.h>

// Every kernel entry point is declared with DMA_KERNEL and named in snake_case, as llm.c names its kernels: what it
// computes, then the pass (layernorm_forward, layernorm_backward_input, batchnorm_stats, sum_rows, copy_blocks).
// Device helpers and templates keep camelCase (warpSum, softmaxRows); a template that becomes an entry point does
// so through a snake_case DMA_KERNEL wrapper (softmax_warp runs softmaxRows<true>). The Java side launches kernels
// by these names (dma.engine.cuda, "family.kernel"), and KernelBuildTest rejects a compiled name that is not snake_case.
#define DMA_KERNEL extern "C" __global__

#define GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ double warpSumD(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 floats of shared memory; callers reusing it must __syncthreads() between calls.
__device__ __forceinline__ float blockSum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warpSum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.f;
    return warpSum(v);
}

__device__ __forceinline__ float blockMax(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warpMax(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INFINITY;
    return warpMax(v);
}

// ------------------------------------------------------------------ counter-based random numbers
// Bit-identical to dma.engine.CounterRng: SplitMix64's finalizer over (seed, index).
__device__ __forceinline__ uint64_t rngMix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__device__ __forceinline__ uint64_t rngBits(uint64_t seed, uint64_t index) {
    return rngMix(rngMix(seed + 0x9E3779B97F4A7C15ull) ^ (index * 0xD1B54A32D192ED03ull));
}

// Uniform in [0, 1) with 24 bits.
__device__ __forceinline__ float rngUniform(uint64_t seed, uint64_t index) {
    return (float)(rngBits(seed, index) >> 40) * 0x1.0p-24f;
}

// Standard normal by Box–Muller on the two halves of one draw (double, as the CPU reference).
__device__ __forceinline__ double rngNormal(uint64_t seed, uint64_t index) {
    uint64_t b = rngBits(seed, index);
    double u1 = (double)((b >> 40) + 1) * 0x1.0p-24;
    double u2 = (double)((b >> 16) & 0xFFFFFF) * 0x1.0p-24;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

// ------------------------------------------------------------------ bfloat16
__device__ __forceinline__ float bf16ToFloat(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

// Round to nearest even; NaN stays NaN (as the CPU reference).
__device__ __forceinline__ uint16_t floatToBf16(float f) {
    uint32_t x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// ------------------------------------------------------------------ double reductions
// blockSum in double, for statistics the CPU reference sums in double. `scratch` holds 32 doubles of shared
// memory; consecutive calls may share it (each call synchronizes before writing it).
__device__ __forceinline__ double blockSumD(double v, double* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warpSumD(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0;
    return warpSumD(v);
}
