// Data movement: permutes, strided block copies (slice, concat, bias broadcast), im2col and its adjoint.
// Each kernel writes one output element per thread (grid-stride), so writes are coalesced and no two threads
// touch the same element: col2im gathers instead of scattering, which keeps it deterministic without atomics.
#include "common.cuh"

// out[i] (=, or += with accumulate) in[src(i)], where the output's (merged) axes have sizes s0..s5 and input
// strides t0..t5; the host pads unused leading axes with size 1 and stride 0.
DMA_KERNEL void permute(const float* __restrict__ in, float* __restrict__ out, int n,
                        int s0, int s1, int s2, int s3, int s4, int s5,
                        int t0, int t1, int t2, int t3, int t4, int t5, int accumulate) {
    GRID_STRIDE(i, n) {
        int rest = (int)i, src = 0;
        src += (rest % s5) * t5; rest /= s5;
        src += (rest % s4) * t4; rest /= s4;
        src += (rest % s3) * t3; rest /= s3;
        src += (rest % s2) * t2; rest /= s2;
        src += (rest % s1) * t1; rest /= s1;
        src += rest * t0;
        float v = in[src];
        out[i] = accumulate ? out[i] + v : v;
    }
}

// `blocks` runs of blockLen elements: dst[b·dstStride + j] (=, or +=) src[b·srcStride + j]. A zero srcStride
// broadcasts one run (a bias over rows).
DMA_KERNEL void copy_blocks(const float* __restrict__ src, int srcStride, float* __restrict__ dst, int dstStride,
                            int blockLen, int blocks, int accumulate) {
    long long total = (long long)blocks * blockLen;
    GRID_STRIDE(i, total) {
        long long b = i / blockLen, j = i - b * blockLen;
        float v = src[b * srcStride + j];
        float* d = dst + b * dstStride + j;
        *d = accumulate ? *d + v : v;
    }
}

// cols[(ci, ky, kx), (img, oy, ox)] = in[img, ci, oy·stride − pad + ky, ox·stride − pad + kx], zero outside the image.
DMA_KERNEL void im2col(const float* __restrict__ in, float* __restrict__ cols, int n, int c, int h, int w,
                       int kh, int kw, int stride, int pad, int oh, int ow) {
    int spatial = oh * ow;
    long long width = (long long)n * spatial, total = (long long)c * kh * kw * width;
    GRID_STRIDE(i, total) {
        int row = (int)(i / width), col = (int)(i - row * width);
        int ci = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw;
        int img = col / spatial, pos = col - img * spatial, oy = pos / ow, ox = pos - oy * ow;
        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
        cols[i] = inside ? in[((long long)img * c + ci) * h * w + iy * w + ix] : 0.f;
    }
}

// gradIn[img, ci, iy, ix] += Σ over the taps (ky, kx) that read this pixel of gradCols[(ci, ky, kx), (img, oy, ox)],
// one thread per pixel, taps in (ky, kx) order added onto the existing value as the CPU reference does.
DMA_KERNEL void col2im(const float* __restrict__ gradCols, float* __restrict__ gradIn, int n, int c, int h, int w,
                       int kh, int kw, int stride, int pad, int oh, int ow) {
    int spatial = oh * ow;
    long long width = (long long)n * spatial, total = (long long)n * c * h * w;
    GRID_STRIDE(i, total) {
        int ix = (int)(i % w), iy = (int)((i / w) % h);
        long long plane = i / ((long long)h * w);
        int ci = (int)(plane % c), img = (int)(plane / c);
        float acc = gradIn[i];
        for (int ky = 0; ky < kh; ky++) {
            int ty = iy + pad - ky;  // = oy·stride
            if (ty < 0 || ty % stride != 0 || ty / stride >= oh) continue;
            int oy = ty / stride;
            for (int kx = 0; kx < kw; kx++) {
                int tx = ix + pad - kx;
                if (tx < 0 || tx % stride != 0 || tx / stride >= ow) continue;
                long long row = ((long long)ci * kh + ky) * kw + kx;
                acc += gradCols[row * width + (long long)img * spatial + oy * ow + tx / stride];
            }
        }
        gradIn[i] = acc;
    }
}
