// Depthwise convolution (groups = channels) of [n, c, h, w] with weight [c, kh, kw], as the CPU reference
// (dma.engine.cpu.CpuConvolution): forward and the input gradient are one thread per output / input pixel, taps
// in (ky, kx) order; the weight and bias gradients are deterministic block sums per (channel, chunk of output
// positions) in double, added up in chunk order by depthwise_param_sums.
#include "common.cuh"

DMA_KERNEL void depthwise_forward(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                                  float* __restrict__ y, int n, int c, int h, int w, int kh, int kw,
                                  int strideH, int strideW, int padH, int padW, int oh, int ow) {
    GRID_STRIDE(i, (long long)n * c * oh * ow) {
        int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
        long long plane = i / ((long long)oh * ow);
        int ch = (int)(plane % c);
        const float* xp = x + plane * h * w;
        const float* wk = weight + (long long)ch * kh * kw;
        float acc = bias ? bias[ch] : 0.f;
        for (int ky = 0; ky < kh; ky++) {
            int iy = oy * strideH - padH + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < kw; kx++) {
                int ix = ox * strideW - padW + kx;
                if (ix < 0 || ix >= w) continue;
                acc += wk[ky * kw + kx] * xp[iy * w + ix];
            }
        }
        y[i] = acc;
    }
}

// gradIn[img, ch, iy, ix] += Σ over the taps whose output position reads this pixel of w·gradOut (gathered, no atomics).
DMA_KERNEL void depthwise_backward_input(const float* __restrict__ g, const float* __restrict__ weight, float* __restrict__ gradIn,
                                         int n, int c, int h, int w, int kh, int kw,
                                         int strideH, int strideW, int padH, int padW, int oh, int ow) {
    GRID_STRIDE(i, (long long)n * c * h * w) {
        int ix = (int)(i % w), iy = (int)((i / w) % h);
        long long plane = i / ((long long)h * w);
        int ch = (int)(plane % c);
        const float* gp = g + plane * oh * ow;
        const float* wk = weight + (long long)ch * kh * kw;
        float acc = 0.f;
        for (int ky = 0; ky < kh; ky++) {
            int ty = iy + padH - ky;  // = oy·strideH
            if (ty < 0 || ty % strideH != 0 || ty / strideH >= oh) continue;
            int oy = ty / strideH;
            for (int kx = 0; kx < kw; kx++) {
                int tx = ix + padW - kx;
                if (tx < 0 || tx % strideW != 0 || tx / strideW >= ow) continue;
                acc += wk[ky * kw + kx] * gp[oy * ow + tx / strideW];
            }
        }
        gradIn[i] += acc;
    }
}

// Block (channel blockIdx.x, chunk blockIdx.y of `chunks` over the channel's n·oh·ow output positions):
// partials[chunk][ch][t] = Σ gradOut·x under tap t for t < kh·kw, and Σ gradOut for t = kh·kw (the bias).
// Only taps in [firstTap, lastTap) are computed: the host skips the weight taps or the bias when not wanted.
DMA_KERNEL void depthwise_param_partials(const float* __restrict__ g, const float* __restrict__ x, int n, int c, int h, int w,
                                         int kh, int kw, int strideH, int strideW, int padH, int padW, int oh, int ow,
                                         int chunks, int firstTap, int lastTap, double* __restrict__ partials) {
    __shared__ double scratch[32];
    int ch = blockIdx.x, chunk = blockIdx.y, taps = kh * kw, outPlane = oh * ow;
    long long count = (long long)n * outPlane;
    long long begin = count * chunk / chunks, end = count * (chunk + 1) / chunks;
    for (int t = firstTap; t < lastTap; t++) {
        int ky = t / kw, kx = t - ky * kw;
        double acc = 0;
        for (long long e = begin + threadIdx.x; e < end; e += blockDim.x) {
            long long img = e / outPlane;
            int pos = (int)(e - img * outPlane), oy = pos / ow, ox = pos - oy * ow;
            long long plane = img * c + ch;
            float dy = g[plane * outPlane + pos];
            if (t == taps) {
                acc += dy;
                continue;
            }
            int iy = oy * strideH - padH + ky, ix = ox * strideW - padW + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += (double)(dy * x[plane * h * w + iy * w + ix]);
        }
        acc = blockSumD(acc, scratch);
        if (threadIdx.x == 0) partials[((long long)chunk * c + ch) * (taps + 1) + t] = acc;
    }
}

// gradWeight[ch, t] += Σ_chunks partials[chunk][ch][t], gradBias[ch] += Σ_chunks partials[chunk][ch][taps],
// chunks in order; either may be null.
DMA_KERNEL void depthwise_param_sums(const double* __restrict__ partials, int chunks, int c, int taps,
                                     float* __restrict__ gradWeight, float* __restrict__ gradBias) {
    GRID_STRIDE(j, (long long)c * (taps + 1)) {
        int ch = (int)(j / (taps + 1)), t = (int)(j - (long long)ch * (taps + 1));
        float* target = t < taps ? (gradWeight ? gradWeight + (long long)ch * taps + t : nullptr) : (gradBias ? gradBias + ch : nullptr);
        if (!target) continue;
        double s = 0;
        for (int p = 0; p < chunks; p++) s += partials[(long long)p * c * (taps + 1) + j];
        *target += (float)s;
    }
}
