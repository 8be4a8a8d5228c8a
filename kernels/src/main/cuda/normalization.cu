// LayerNorm over rows, LayerNorm over the channels of [n, c, hw], and BatchNorm2d. As the CPU reference
// (dma.engine.cpu.CpuNormalization): statistics are two-pass sums in double, the saved mean and rstd are the
// float values the forward normalized with, so backward rebuilds exactly the same x̂ = (x − mean)·rstd.
//
// Parameter gradients (column sums over rows, channel sums over images and positions) are deterministic: each
// block writes the double partial sums of its chunk of rows into a scratch buffer, and add_partials adds the
// chunks up in chunk order. No atomics anywhere, so the results do not depend on scheduling.
#include "common.cuh"

// 1/√(var + eps) in double, rounded once (the one definition of rstd, as on the CPU).
__device__ __forceinline__ float rstdOf(double var, float eps) {
    return (float)(1.0 / sqrt(var + (double)eps));
}

// ---------------------------------------------------------------- LayerNorm over the last axis of [rows, cols]

// One warp per row (rows are grid-strided per warp, so every lane of a warp runs the same rows).
DMA_KERNEL void layernorm_forward(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                                  float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
                                  int rows, int cols, float eps) {
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
        const float* xr = x + (long long)row * cols;
        float* yr = y + (long long)row * cols;
        double sum = 0;
        for (int j = lane; j < cols; j += 32) sum += xr[j];
        double mu = warpSumD(sum) / cols;
        double sq = 0;
        for (int j = lane; j < cols; j += 32) {
            double d = xr[j] - mu;
            sq += d * d;
        }
        float m = (float)mu, rs = rstdOf(warpSumD(sq) / cols, eps);
        if (lane == 0) {
            mean[row] = m;
            rstd[row] = rs;
        }
        for (int j = lane; j < cols; j += 32) yr[j] = (xr[j] - m) * rs * weight[j] + bias[j];
    }
}

// gradIn += rstd·(d − mean(d) − x̂·mean(d·x̂)) with d = dy·w, one warp per row.
DMA_KERNEL void layernorm_backward_input(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ weight,
                                         const float* __restrict__ mean, const float* __restrict__ rstd, float* __restrict__ gradIn,
                                         int rows, int cols) {
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
        long long off = (long long)row * cols;
        const float *gr = g + off, *xr = x + off;
        float* gir = gradIn + off;
        float m = mean[row], rs = rstd[row];
        double sumD = 0, sumDX = 0;
        for (int j = lane; j < cols; j += 32) {
            float xh = (xr[j] - m) * rs;
            double d = (double)gr[j] * weight[j];
            sumD += d;
            sumDX += d * xh;
        }
        float meanD = (float)(warpSumD(sumD) / cols), meanDX = (float)(warpSumD(sumDX) / cols);
        for (int j = lane; j < cols; j += 32) {
            float xh = (xr[j] - m) * rs;
            gir[j] += rs * (__fmul_rn(gr[j], weight[j]) - meanD - __fmul_rn(xh, meanDX));
        }
    }
}

#define PARAM_TILE_WARPS 8  // layernorm_param_partials runs 8 warps (256 threads) per block

// Block (column tile blockIdx.x of 32 columns, row chunk blockIdx.y of `chunks`): partials[chunk][col] =
// (Σ dy·x̂, Σ dy) over the chunk's rows. Lanes take columns (coalesced), warps take every 8th row; the 8 warp
// sums are then added in warp order.
DMA_KERNEL void layernorm_param_partials(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                                         const float* __restrict__ rstd, int rows, int cols, int chunks, double2* __restrict__ partials) {
    __shared__ double2 warpSums[PARAM_TILE_WARPS][32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int col = blockIdx.x * 32 + lane, chunk = blockIdx.y;
    int r0 = (int)((long long)rows * chunk / chunks), r1 = (int)((long long)rows * (chunk + 1) / chunks);
    double sw = 0, sb = 0;
    if (col < cols)
        for (int r = r0 + warp; r < r1; r += PARAM_TILE_WARPS) {
            long long at = (long long)r * cols + col;
            float dy = g[at], xh = (x[at] - mean[r]) * rstd[r];
            sw += (double)dy * xh;
            sb += dy;
        }
    warpSums[warp][lane] = make_double2(sw, sb);
    __syncthreads();
    if (warp == 0 && col < cols) {
        double2 s = warpSums[0][lane];
        for (int k = 1; k < PARAM_TILE_WARPS; k++) {
            s.x += warpSums[k][lane].x;
            s.y += warpSums[k][lane].y;
        }
        partials[(long long)chunk * cols + col] = s;
    }
}

// For each column j: (a, b) = Σ over chunks, in chunk order, of partials[chunk][j]; accA[j] += a, accB[j] += b
// (each skipped when null); means, when given, gets (b/count, a/count) per column for BatchNorm's input gradient.
DMA_KERNEL void add_partials(const double2* __restrict__ partials, int chunks, int cols, float* __restrict__ accA,
                             float* __restrict__ accB, float* __restrict__ means, double count) {
    GRID_STRIDE(j, cols) {
        double a = 0, b = 0;
        for (int p = 0; p < chunks; p++) {
            double2 v = partials[(long long)p * cols + j];
            a += v.x;
            b += v.y;
        }
        if (accA) accA[j] += (float)a;
        if (accB) accB[j] += (float)b;
        if (means) {
            means[2 * j] = (float)(b / count);
            means[2 * j + 1] = (float)(a / count);
        }
    }
}

// ---------------------------------------------------------------- LayerNorm over the channels of [n, c, hw]

// One thread per (image, position): the c channels lie hw apart, so neighbouring threads read neighbouring floats.
DMA_KERNEL void layernorm_channels_forward(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                                           float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
                                           int n, int c, int hw, float eps) {
    GRID_STRIDE(e, (long long)n * hw) {
        int img = (int)(e / hw), p = (int)(e - (long long)img * hw);
        long long base = (long long)img * c * hw + p;
        double sum = 0;
        for (int ch = 0; ch < c; ch++) sum += x[base + (long long)ch * hw];
        double mu = sum / c;
        double sq = 0;
        for (int ch = 0; ch < c; ch++) {
            double d = x[base + (long long)ch * hw] - mu;
            sq += d * d;
        }
        float m = (float)mu, rs = rstdOf(sq / c, eps);
        mean[e] = m;
        rstd[e] = rs;
        for (int ch = 0; ch < c; ch++) {
            long long at = base + (long long)ch * hw;
            y[at] = (x[at] - m) * rs * weight[ch] + bias[ch];
        }
    }
}

DMA_KERNEL void layernorm_channels_backward_input(const float* __restrict__ g, const float* __restrict__ x,
                                                  const float* __restrict__ weight, const float* __restrict__ mean,
                                                  const float* __restrict__ rstd, float* __restrict__ gradIn, int n, int c, int hw) {
    GRID_STRIDE(e, (long long)n * hw) {
        int img = (int)(e / hw), p = (int)(e - (long long)img * hw);
        long long base = (long long)img * c * hw + p;
        float m = mean[e], rs = rstd[e];
        double sumD = 0, sumDX = 0;
        for (int ch = 0; ch < c; ch++) {
            long long at = base + (long long)ch * hw;
            float xh = (x[at] - m) * rs;
            double d = (double)g[at] * weight[ch];
            sumD += d;
            sumDX += d * xh;
        }
        float meanD = (float)(sumD / c), meanDX = (float)(sumDX / c);
        for (int ch = 0; ch < c; ch++) {
            long long at = base + (long long)ch * hw;
            float xh = (x[at] - m) * rs;
            // unfused products, as the CPU rounds them: with one channel d − mean(d) is exactly 0 there, while a fused
            // g·w − meanD keeps g·w's rounding error and rstd (up to 1/√eps) magnifies it
            gradIn[at] += rs * (__fmul_rn(g[at], weight[ch]) - meanD - __fmul_rn(xh, meanDX));
        }
    }
}

// ---------------------------------------------------------------- per-channel sums over (images, positions)

// Block (channel blockIdx.x, chunk blockIdx.y of `chunks`): partials[chunk][ch] = Σ term(at, e) over the
// chunk's share of the channel's n·hw elements (e = img·hw + p, at = its address), the pair summed in double.
template <class Term>
__device__ __forceinline__ void channelPartials(int n, int c, int hw, int chunks, double2* __restrict__ partials, Term term) {
    __shared__ double scratch[32];
    int ch = blockIdx.x, chunk = blockIdx.y;
    long long count = (long long)n * hw;
    long long begin = count * chunk / chunks, end = count * (chunk + 1) / chunks;
    double a = 0, b = 0;
    for (long long e = begin + threadIdx.x; e < end; e += blockDim.x) {
        long long img = e / hw;
        double2 t = term((img * c + ch) * hw + (e - img * hw), e);
        a += t.x;
        b += t.y;
    }
    a = blockSumD(a, scratch);
    b = blockSumD(b, scratch);
    if (threadIdx.x == 0) partials[(long long)chunk * c + ch] = make_double2(a, b);
}

// (Σ dy·x̂, Σ dy) per channel: x̂ from per-position statistics (LayerNorm over channels, perPosition = 1)
// or per-channel statistics (BatchNorm, perPosition = 0). reluOut (or null): a fused ReLU's output, dy = 0 where it is not positive.
DMA_KERNEL void channel_grad_partials(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                                      const float* __restrict__ rstd, int perPosition, const float* __restrict__ reluOut,
                                      int n, int c, int hw, int chunks, double2* __restrict__ partials) {
    int ch = blockIdx.x;
    channelPartials(n, c, hw, chunks, partials, [=](long long at, long long e) {
        long long s = perPosition ? e : ch;
        float dy = reluOut && !(reluOut[at] > 0.f) ? 0.f : g[at], xh = (x[at] - mean[s]) * rstd[s];
        return make_double2((double)dy * xh, (double)dy);
    });
}

// BatchNorm statistics, pass one: Σ x per channel (in .x).
DMA_KERNEL void channel_sum_partials(const float* __restrict__ x, int n, int c, int hw, int chunks, double2* __restrict__ partials) {
    channelPartials(n, c, hw, chunks, partials, [=](long long at, long long) { return make_double2((double)x[at], 0.0); });
}

// The channel mean from pass one's partials, added in chunk order (batchnorm_stats repeats exactly this sum).
__device__ __forceinline__ double channelMean(const double2* __restrict__ sums, int chunks, int c, int ch, double count) {
    double s = 0;
    for (int p = 0; p < chunks; p++) s += sums[(long long)p * c + ch].x;
    return s / count;
}

// Pass two: Σ (x − mean)² per channel (in .x), the mean taken from pass one.
DMA_KERNEL void channel_sq_partials(const float* __restrict__ x, const double2* __restrict__ sums, int n, int c, int hw, int chunks,
                                    double2* __restrict__ partials) {
    double mu = channelMean(sums, chunks, c, blockIdx.x, (double)n * hw);
    channelPartials(n, c, hw, chunks, partials, [=](long long at, long long) {
        double d = x[at] - mu;
        return make_double2(d * d, 0.0);
    });
}

// Per channel: the batch mean and rstd (biased variance), and the running statistics updated with the unbiased
// variance (a single element has none: the biased one is kept), as PyTorch does.
DMA_KERNEL void batchnorm_stats(const double2* __restrict__ sums, const double2* __restrict__ sqs, int chunks, int n, int c, int hw,
                                float eps, float momentum, float* __restrict__ mean, float* __restrict__ rstd,
                                float* __restrict__ runningMean, float* __restrict__ runningVar) {
    GRID_STRIDE(ch, c) {
        long long count = (long long)n * hw;
        double mu = channelMean(sums, chunks, c, (int)ch, (double)count);
        double sq = 0;
        for (int p = 0; p < chunks; p++) sq += sqs[(long long)p * c + ch].x;
        double var = sq / count;
        mean[ch] = (float)mu;
        rstd[ch] = rstdOf(var, eps);
        if (runningMean) runningMean[ch] = (float)((1.0 - momentum) * runningMean[ch] + momentum * mu);
        if (runningVar) {
            double unbiased = count > 1 ? sq / (count - 1) : var;
            runningVar[ch] = (float)((1.0 - momentum) * runningVar[ch] + momentum * unbiased);
        }
    }
}

// The fused epilogue: + residual (or null), then max(·, 0) when relu (NaN stays NaN, as on the CPU).
__device__ __forceinline__ float epilogue(float y, const float* __restrict__ residual, int relu, long long i) {
    if (residual) y += residual[i];
    return relu && y < 0.f ? 0.f : y;
}

DMA_KERNEL void batchnorm_apply(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                                const float* __restrict__ mean, const float* __restrict__ rstd, const float* __restrict__ residual,
                                int relu, float* __restrict__ y, int n, int c, int hw) {
    GRID_STRIDE(i, (long long)n * c * hw) {
        int ch = (int)((i / hw) % c);
        y[i] = epilogue((x[i] - mean[ch]) * rstd[ch] * weight[ch] + bias[ch], residual, relu, i);
    }
}

// Eval mode: the running statistics, rstd computed per element exactly as the CPU computes it per channel.
DMA_KERNEL void batchnorm_eval_apply(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                                     const float* __restrict__ runningMean, const float* __restrict__ runningVar,
                                     const float* __restrict__ residual, int relu, float* __restrict__ y, int n, int c, int hw,
                                     float eps) {
    GRID_STRIDE(i, (long long)n * c * hw) {
        int ch = (int)((i / hw) % c);
        y[i] = epilogue((x[i] - runningMean[ch]) * rstdOf(runningVar[ch], eps) * weight[ch] + bias[ch], residual, relu, i);
    }
}

// gradIn += w·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) in training mode (means = those per-channel pairs);
// eval mode (means null): gradIn += w·rstd·dy, the statistics being constants. With a fused ReLU (reluOut not null)
// dy = 0 where its output is not positive; gradResidual (or null) += dy. gradIn may be null (the residual's alone).
DMA_KERNEL void batchnorm_backward_input(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ weight,
                                         const float* __restrict__ mean, const float* __restrict__ rstd, const float* __restrict__ means,
                                         const float* __restrict__ reluOut, float* __restrict__ gradIn, float* __restrict__ gradResidual,
                                         int n, int c, int hw) {
    GRID_STRIDE(i, (long long)n * c * hw) {
        int ch = (int)((i / hw) % c);
        float dy = reluOut && !(reluOut[i] > 0.f) ? 0.f : g[i];
        if (gradResidual) gradResidual[i] += dy;
        if (!gradIn) continue;
        float rs = rstd[ch], xh = (x[i] - mean[ch]) * rs, scale = weight[ch] * rs;
        float meanDy = means ? means[2 * ch] : 0.f, meanDyX = means ? means[2 * ch + 1] : 0.f;
        gradIn[i] += scale * (dy - meanDy - xh * meanDyX);
    }
}
