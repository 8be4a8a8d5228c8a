#!/usr/bin/python3
"""PyTorch peer of `dma bench`: the same workloads, timed the same way, one JSON object on stdout.

Each workload reports its per-repetition figure (gflops, images_per_s: higher is better) with min,
median and max, like `dma bench --json` does for ours.

Run with Debian's interpreter (/usr/bin/python3 with python3-torch), not a pyenv one:
    /usr/bin/python3 bench/peers/torch_bench.py gemm --size 1024 --reps 5 --threads 2
    /usr/bin/python3 bench/peers/torch_bench.py vit-block --batch 64 --tokens 50 --width 192 --heads 3 --reps 5
    /usr/bin/python3 bench/peers/torch_bench.py vit-step --batch 64 --depth 12 --width 192 --heads 3 --reps 5
    /usr/bin/python3 bench/peers/torch_bench.py resnet-step --batch 128 --depth 110 --reps 5

Timing rule (shared with dma.bench.Timing): warm-up first (at least WARMUP_CALLS calls and WARMUP_S
seconds: three calls alone left the first repetitions 30-50% slow here), then `reps` repetitions; a
repetition runs the workload `inner` times, inner chosen from the mean warm-up call so that one
repetition lasts at least MIN_REP_S (a single 64³ GEMM is too short to time). Figures are per call.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

WARMUP_CALLS = 3
WARMUP_S = 0.5
MIN_REP_S = 0.1


def parse_args():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=os.cpu_count())
    common.add_argument("--reps", type=int, default=5)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="workload", required=True)
    g = sub.add_parser("gemm", parents=[common], help="float32 matmul n×n·n×n, GFLOP/s")
    g.add_argument("--size", type=int, default=1024)
    v = sub.add_parser("vit-block", parents=[common], help="pre-norm ViT block forward+backward, images/s")
    v.add_argument("--batch", type=int, default=64)
    v.add_argument("--tokens", type=int, default=50)
    v.add_argument("--width", type=int, default=192)
    v.add_argument("--heads", type=int, default=3)
    vs = sub.add_parser("vit-step", parents=[common], help="ViT training step (28x28x1, patch 4, AdamW), images/s")
    vs.add_argument("--batch", type=int, default=64)
    vs.add_argument("--depth", type=int, default=12)
    vs.add_argument("--width", type=int, default=192)
    vs.add_argument("--heads", type=int, default=3)
    rs = sub.add_parser("resnet-step", parents=[common], help="CifarResNet training step (32x32x3, SGD momentum), images/s")
    rs.add_argument("--batch", type=int, default=128)
    rs.add_argument("--depth", type=int, default=110)
    return p.parse_args()


def timed(fn, reps):
    """Seconds per call for each repetition."""
    start, calls = time.perf_counter(), 0
    while calls < WARMUP_CALLS or time.perf_counter() - start < WARMUP_S:
        fn()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    inner = max(1, math.ceil(MIN_REP_S / per_call))
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t0) / inner)
    return out, inner


def stats(values, key):
    return {key: values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def gemm(torch, a):
    n = a.size
    x = torch.randn(n, n)
    y = torch.randn(n, n)
    with torch.no_grad():
        seconds, inner = timed(lambda: torch.matmul(x, y), a.reps)
    gflops = [2.0 * n ** 3 / s / 1e9 for s in seconds]
    return {"size": n, "inner": inner, **stats(gflops, "gflops")}


def vit_block(torch, a):
    nn = torch.nn

    class Block(nn.Module):
        """timm's Block: x + attn(norm1(x)); x + mlp(norm2(x))."""

        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.qkv = nn.Linear(dim, 3 * dim, bias=True)
            self.proj = nn.Linear(dim, dim)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.fc1 = nn.Linear(dim, 4 * dim)
            self.act = nn.GELU()  # exact erf form
            self.fc2 = nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, t, c = x.shape
            qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
            x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, c))
            return x + self.fc2(self.act(self.fc1(self.norm2(x))))

    torch.manual_seed(0)
    block = Block(a.width, a.heads)
    # the input needs its gradient too: a block in the middle of a ViT passes it on
    x = torch.randn(a.batch, a.tokens, a.width, requires_grad=True)

    def step():
        block.zero_grad(set_to_none=True)
        x.grad = None
        block(x).sum().backward()

    seconds, inner = timed(step, a.reps)
    return {"batch": a.batch, "tokens": a.tokens, "width": a.width, "heads": a.heads, "inner": inner,
            "seconds": seconds, **stats([a.batch / s for s in seconds], "images_per_s")}


def model_step(torch, a):
    """One training step of the timm-layout model (forward, label-smoothed CE, backward, optimizer step)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import timm_layout
    torch.manual_seed(0)
    if a.workload == "vit-step":
        model = timm_layout.VisionTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=a.width,
                                              depth=a.depth, num_heads=a.heads, drop_path_rate=0.1)
        x = torch.randn(a.batch, 1, 28, 28)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    else:
        model = timm_layout.CifarResNet(a.depth, num_classes=10, in_chans=3)
        x = torch.randn(a.batch, 3, 32, 32)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=0.05)
    y = torch.arange(a.batch) % 10
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    seconds, inner = timed(step, a.reps)
    return {"batch": a.batch, "inner": inner, "seconds": seconds, **stats([a.batch / s for s in seconds], "images_per_s")}


def main():
    a = parse_args()
    # Debian's torch runs GEMMs in OpenBLAS's own pthread pool, which torch.set_num_threads does not
    # size: cap it here, before torch loads libopenblas, so both pools use `threads` cores.
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    try:
        import torch
    except ImportError as e:
        print(f"torch is not importable by {sys.executable}: {e} (install: apt-get install python3-torch)", file=sys.stderr)
        sys.exit(3)
    torch.set_num_threads(a.threads)
    result = {"gemm": gemm, "vit-block": vit_block}.get(a.workload, model_step)(torch, a)
    print(json.dumps({
        "peer": "torch", "version": torch.__version__, "workload": a.workload,
        "threads": torch.get_num_threads(), "openblas_threads": int(os.environ["OPENBLAS_NUM_THREADS"]),
        "reps": a.reps, **result,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
