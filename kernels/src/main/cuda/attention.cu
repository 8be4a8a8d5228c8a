// The kernels of attention over [bh, t, d]. The composed form (cuBLAS GEMMs around row kernels): the softmax of
// the scores in place, and its backward; as the CPU reference (CpuReductions.softmaxRow / softmaxBackwardRow): max
// in float, the exponentials rounded to float, their sum and the dot product of the backward in double. One warp per
// row. Then the fused forward, which keeps a block of score rows in shared memory between q·kᵀ, softmax and ·v.
#include "common.cuh"

// p[row, :] = softmax(p[row, :]) for each of `rows` rows of `cols`.
DMA_KERNEL void softmaxRowsInPlace(float* __restrict__ p, int rows, int cols) {
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
DMA_KERNEL void softmaxBackwardRowsInPlace(const float* __restrict__ p, float* __restrict__ grad, int rows, int cols) {
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

// ------------------------------------------------------------------ fused forward
// out = softmax(scale·q·kᵀ)·v over [bh, t, d] in one launch, saving the probabilities for the backward. A block
// takes FUSED_ROWS query rows of one (batch, head), FUSED_ROWS_PER_WARP to a warp; keys, then values, pass through
// shared memory FUSED_KEYS rows at a time, so every staged row serves all the block's queries. Scores: lane j of a
// warp holds key j of the tile against the warp's rows (a key element read once feeds FUSED_ROWS_PER_WARP
// multiply-adds). The warp's score rows stay in shared memory for the softmax (as softmaxRowsInPlace: max in float,
// exponentials rounded to float, their sum in double) and for p·v, where each lane owns the output columns lane,
// lane + 32, ... Accumulation in float, as the GEMMs of the composed form.
// Limits (CudaAttention checks them and falls back to the composed form past them): t ≤ FUSED_MAX_T, d ≤ FUSED_MAX_D.
// Dynamic shared memory, in floats (CudaAttention.fusedSharedBytes mirrors it), with dp = d rounded up to 4:
//   tile  FUSED_KEYS × ld   keys, later values; ld = dp or dp + 4, whichever is 4 mod 8, so that lanes reading
//                           float4s one row apart hit distinct banks
//   rows  FUSED_ROWS × dp   the block's query rows, zero past d and past t
//   probs FUSED_ROWS × t    the scores, then the probabilities
#define FUSED_WARPS 4
#define FUSED_ROWS_PER_WARP 4
#define FUSED_ROWS (FUSED_WARPS * FUSED_ROWS_PER_WARP)
#define FUSED_KEYS 32
#define FUSED_MAX_T 256
#define FUSED_MAX_D 128
#define FUSED_COLS_PER_LANE (FUSED_MAX_D / 32)

DMA_KERNEL void __launch_bounds__(FUSED_WARPS * 32)
attentionForwardFused(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                      float* __restrict__ out, float* __restrict__ probs, int bh, int t, int d, float scale) {
    extern __shared__ float4 attentionShared[];  // float4 for 16-byte alignment
    int dp = (d + 3) & ~3, ld = (dp & 7) ? dp : dp + 4, d4 = dp >> 2;
    float* tile = (float*)attentionShared;
    float* rowsQ = tile + FUSED_KEYS * ld;
    float* rowsP = rowsQ + FUSED_ROWS * dp;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const float4* myQ = (const float4*)(rowsQ + warp * FUSED_ROWS_PER_WARP * dp);
    float* myP = rowsP + warp * FUSED_ROWS_PER_WARP * t;
    int rowBlocks = (t + FUSED_ROWS - 1) / FUSED_ROWS;
    long long blocks = (long long)bh * rowBlocks;
    for (long long b = blockIdx.x; b < blocks; b += gridDim.x) {
        int head = (int)(b / rowBlocks), row0 = (int)(b % rowBlocks) * FUSED_ROWS, myRow0 = row0 + warp * FUSED_ROWS_PER_WARP;
        long long base = (long long)head * t * d;
        const float *kh = k + base, *vh = v + base;
        __syncthreads();  // the previous block's shared rows are consumed
        for (int e = threadIdx.x; e < FUSED_ROWS * dp; e += blockDim.x) {
            int r = e / dp, c = e % dp;
            rowsQ[e] = (row0 + r < t && c < d) ? q[base + (long long)(row0 + r) * d + c] : 0.f;
        }
        // scores = scale·q·kᵀ, a tile of keys at a time
        for (int j0 = 0; j0 < t; j0 += FUSED_KEYS) {
            int keys = min(FUSED_KEYS, t - j0);
            __syncthreads();  // the previous tile is consumed
            for (int e = threadIdx.x; e < FUSED_KEYS * dp; e += blockDim.x) {
                int j = e / dp, c = e % dp;
                tile[j * ld + c] = (j < keys && c < d) ? kh[(long long)(j0 + j) * d + c] : 0.f;
            }
            __syncthreads();
            const float4* key = (const float4*)(tile + lane * ld);
            float s[FUSED_ROWS_PER_WARP] = {};
            for (int c = 0; c < d4; c++) {
                float4 kv = key[c];
#pragma unroll
                for (int r = 0; r < FUSED_ROWS_PER_WARP; r++) {
                    float4 qv = myQ[r * d4 + c];
                    s[r] = fmaf(qv.x, kv.x, s[r]);
                    s[r] = fmaf(qv.y, kv.y, s[r]);
                    s[r] = fmaf(qv.z, kv.z, s[r]);
                    s[r] = fmaf(qv.w, kv.w, s[r]);
                }
            }
            if (lane < keys)
#pragma unroll
                for (int r = 0; r < FUSED_ROWS_PER_WARP; r++) myP[r * t + j0 + lane] = s[r] * scale;
        }
        __syncthreads();  // every score is in (each lane reads the whole row below)
        // the softmax of the warp's rows, saved to probs
        for (int r = 0; r < FUSED_ROWS_PER_WARP && myRow0 + r < t; r++) {
            float* p = myP + r * t;
            float* saved = probs + (long long)head * t * t + (long long)(myRow0 + r) * t;
            float max = -INFINITY;
            for (int j = lane; j < t; j += 32) max = fmaxf(max, p[j]);
            max = warpMax(max);
            double sum = 0;
            for (int j = lane; j < t; j += 32) {
                float e = expf(p[j] - max);
                p[j] = e;
                sum += e;
            }
            float inv = (float)(1.0 / warpSumD(sum));
            for (int j = lane; j < t; j += 32) {
                float pj = p[j] * inv;
                p[j] = pj;
                saved[j] = pj;
            }
        }
        // out = p·v, a tile of values at a time
        float acc[FUSED_ROWS_PER_WARP][FUSED_COLS_PER_LANE] = {};
        for (int j0 = 0; j0 < t; j0 += FUSED_KEYS) {
            int keys = min(FUSED_KEYS, t - j0);
            __syncthreads();  // the previous tile is consumed, and the probabilities are in
            for (int e = threadIdx.x; e < keys * d; e += blockDim.x) {
                int j = e / d, c = e % d;
                tile[j * ld + c] = vh[(long long)(j0 + j) * d + c];
            }
            __syncthreads();
            for (int j = 0; j < keys; j++) {
                float pr[FUSED_ROWS_PER_WARP];
#pragma unroll
                for (int r = 0; r < FUSED_ROWS_PER_WARP; r++) pr[r] = myP[r * t + j0 + j];
#pragma unroll
                for (int i = 0; i < FUSED_COLS_PER_LANE; i++) {
                    int c = lane + 32 * i;
                    if (c < d) {
                        float vv = tile[j * ld + c];
#pragma unroll
                        for (int r = 0; r < FUSED_ROWS_PER_WARP; r++) acc[r][i] = fmaf(pr[r], vv, acc[r][i]);
                    }
                }
            }
        }
#pragma unroll
        for (int r = 0; r < FUSED_ROWS_PER_WARP; r++) {
            if (myRow0 + r >= t) break;
            float* o = out + base + (long long)(myRow0 + r) * d;
#pragma unroll
            for (int i = 0; i < FUSED_COLS_PER_LANE; i++)
                if (lane + 32 * i < d) o[lane + 32 * i] = acc[r][i];
        }
    }
}
