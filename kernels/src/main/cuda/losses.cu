// Cross-entropy fused with log-softmax, and the L1 loss. The arithmetic follows the CPU reference
// (dma.engine.cpu.CpuLosses): per-row sums and the loss in double; the L1 sum in double over slices fixed by n,
// added up in a fixed order (no atomics), so the loss is the same from run to run.
#include "common.cuh"

// A row per warp. smoothed target t' = t·keep + uniform (keep = 1 − s, uniform = s/classes, both double as on the
// CPU); loss = −Σ t'·log p with log p = x − logsumexp(x), which never takes the log of an underflowed probability.
DMA_KERNEL void cross_entropy(const float* logits, const float* targets, float* loss, float* probs, int rows, int classes,
                              double keep, double uniform) {
    int lane = threadIdx.x & 31;
    long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long r = warp; r < rows; r += warps) {
        const float* x = logits + r * classes;
        const float* t = targets + r * classes;
        float* p = probs + r * classes;
        float m = -INFINITY;
        for (int j = lane; j < classes; j += 32) m = fmaxf(m, x[j]);
        m = warpMax(m);
        double sum = 0.0;
        for (int j = lane; j < classes; j += 32) sum += exp((double)(x[j] - m));
        sum = warpSumD(sum);
        double lse = m + log(sum), acc = 0.0;
        for (int j = lane; j < classes; j += 32) {
            float xj = x[j];
            acc += (t[j] * keep + uniform) * (lse - xj);
            p[j] = (float)(exp((double)(xj - m)) / sum);
        }
        acc = warpSumD(acc);
        if (lane == 0) loss[r] = (float)acc;
    }
}

// gradLogits += gradLoss[0]·scale·(probs − t'), in float as on the CPU; gradLoss stays on the device.
DMA_KERNEL void cross_entropy_backward(const float* probs, const float* targets, const float* gradLoss, float* gradLogits,
                                       int n, float scale, float keep, float uniform) {
    float g = gradLoss[0] * scale;
    GRID_STRIDE(i, n) gradLogits[i] += g * (probs[i] - (targets[i] * keep + uniform));
}

// Pass 1 of the L1 loss: block b sums |a − b| over its slice [b·slice, (b+1)·slice) into partials[b].
DMA_KERNEL void l1_partial(const float* a, const float* b, int n, int slice, double* partials) {
    __shared__ double scratch[32];
    long long begin = (long long)blockIdx.x * slice, end = min((long long)n, begin + slice);
    double acc = 0.0;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) acc += fabsf(a[i] - b[i]);
    acc = blockSumD(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Pass 2, one block: loss[0] = Σ partials / n (NaN when n = 0, as on the CPU).
DMA_KERNEL void l1_finish(const double* partials, int count, float* loss, int n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int k = threadIdx.x; k < count; k += blockDim.x) acc += partials[k];
    acc = blockSumD(acc, scratch);
    if (threadIdx.x == 0) loss[0] = (float)(acc / n);
}

// gradA += g·sign(a − b)/n, gradB −= the same (either may be null). sign(±0) = ±0 and sign(NaN) = NaN, as Java's
// Math.signum: no gradient where the inputs are equal.
DMA_KERNEL void l1_backward(const float* a, const float* b, const float* gradLoss, float* gradA, float* gradB, int n) {
    float g = gradLoss[0] / (float)n;
    GRID_STRIDE(i, n) {
        float diff = a[i] - b[i];
        float sign = diff > 0.f ? 1.f : diff < 0.f ? -1.f : diff;
        float d = g * sign;
        if (gradA) gradA[i] += d;
        if (gradB) gradB[i] -= d;
    }
}
