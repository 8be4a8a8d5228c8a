#!/usr/bin/python3
"""PyTorch peer of `dma bench`: the same workloads, timed the same way, one JSON object on stdout.

Each workload reports its per-repetition figure (gflops, images_per_s: higher is better) with min,
median and max, like `dma bench --json` does for ours.

Run with Debian's interpreter (/usr/bin/python3 with python3-torch), not a pyenv one:
    /usr/bin/python3 bench/peers/torch_bench.py gemm --size 1024 --reps 5 --threads 2
    /usr/bin/python3 bench/peers/torch_bench.py deit-step --batch 1 --depth 1 --reps 5 --threads 2
On a GPU machine (PyTorch with CUDA; timm for deit-step), --device cuda times the GPU instead:
    python3 bench/peers/torch_bench.py gemm --device cuda --size 8192 --dtype bf16 --reps 10
    python3 bench/peers/torch_bench.py deit-step --device cuda --batch 128 --bf16 --ceiling --reps 10
    /usr/bin/python3 bench/peers/torch_bench.py vit-block --batch 64 --tokens 50 --width 192 --heads 3 --reps 5
    /usr/bin/python3 bench/peers/torch_bench.py vit-step --batch 64 --depth 12 --width 192 --heads 3 --patch 4 --reps 5
    /usr/bin/python3 bench/peers/torch_bench.py resnet-step --batch 128 --depth 110 --reps 5

Timing rule (shared with dma.bench.Timing): warm-up first (at least WARMUP_CALLS calls and WARMUP_S
seconds: three calls alone left the first repetitions 30-50% slow here), then `reps` repetitions; a
repetition runs the workload `inner` times, inner chosen from the mean warm-up call so that one
repetition lasts at least MIN_REP_S (a single 64³ GEMM is too short to time). Figures are per call.
On a GPU the warm-up calls each end with a synchronize, and a repetition is timed by CUDA events around
its `inner` calls (kernels are queued asynchronously: the host clock alone would time the queueing).
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
    common.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="workload", required=True)
    g = sub.add_parser("gemm", parents=[common], help="float32 matmul n×n·n×n, GFLOP/s")
    g.add_argument("--size", type=int, default=1024)
    g.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
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
    vs.add_argument("--patch", type=int, default=4)
    rs = sub.add_parser("resnet-step", parents=[common], help="CifarResNet training step (32x32x3, SGD momentum), images/s")
    rs.add_argument("--batch", type=int, default=128)
    rs.add_argument("--depth", type=int, default=110)
    ds = sub.add_parser("deit-step", parents=[common], help="DeiT-S/16 224² training step (AdamW), images/s")
    ds.add_argument("--batch", type=int, default=128)
    ds.add_argument("--depth", type=int, default=12)
    ds.add_argument("--drop-path", type=float, default=0.1)
    ds.add_argument("--bf16", action="store_true", help="torch.autocast to bfloat16 around forward and loss")
    ds.add_argument("--ceiling", action="store_true", help="also measure the bf16 GEMM ceiling (8192³ matmul), TFLOP/s")
    return p.parse_args()


def timed(fn, reps, torch=None):
    """Seconds per call for each repetition; pass torch to time a CUDA workload (synchronized, CUDA events)."""
    if torch is not None:
        return timed_cuda(fn, reps, torch)
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


def timed_cuda(fn, reps, torch):
    start, calls = time.perf_counter(), 0
    while calls < WARMUP_CALLS or time.perf_counter() - start < WARMUP_S:
        fn()
        torch.cuda.synchronize()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    inner = max(1, math.ceil(MIN_REP_S / per_call))
    out = []
    for _ in range(reps):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        out.append(begin.elapsed_time(end) / 1e3 / inner)
    return out, inner


def stats(values, key):
    return {key: values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def gemm(torch, a):
    n = a.size
    if a.device == "cuda":
        return {"size": n, "dtype": a.dtype, **gemm_cuda(torch, n, a.dtype, a.reps)}
    x = torch.randn(n, n)
    y = torch.randn(n, n)
    with torch.no_grad():
        seconds, inner = timed(lambda: torch.matmul(x, y), a.reps)
    gflops = [2.0 * n ** 3 / s / 1e9 for s in seconds]
    return {"size": n, "inner": inner, **stats(gflops, "gflops")}


def gemm_cuda(torch, n, dtype, reps):
    """n×n·n×n on the GPU from random data, TFLOP/s; fp32 without TF32 (as cuBLAS's default math on our side)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    kind = torch.bfloat16 if dtype == "bf16" else torch.float32
    x = torch.randn(n, n, device="cuda", dtype=kind)
    y = torch.randn(n, n, device="cuda", dtype=kind)
    out = torch.empty(n, n, device="cuda", dtype=kind)
    with torch.no_grad():
        seconds, inner = timed(lambda: torch.matmul(x, y, out=out), reps, torch)
    return {"inner": inner, **stats([2.0 * n ** 3 / s / 1e12 for s in seconds], "tflops")}


def deit_step(torch, a):
    """One DeiT-S/16 training step at 224² (forward, label-smoothed CE, backward, AdamW), images/s.

    timm's own model where timm is installed (the GPU machine); timm_layout's identical VisionTransformer otherwise.
    """
    cuda = a.device == "cuda"
    torch.manual_seed(0)
    try:
        import timm
        model = timm.create_model("deit_small_patch16_224", pretrained=False, num_classes=1000,
                                  depth=a.depth, drop_path_rate=a.drop_path)
        source = "timm " + timm.__version__
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import timm_layout
        model = timm_layout.VisionTransformer(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=384,
                                              depth=a.depth, num_heads=6, drop_path_rate=a.drop_path)
        source = "timm_layout (timm not installed)"
    device = torch.device(a.device)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
    model.to(device).train()
    x = torch.randn(a.batch, 3, 224, 224, device=device)
    y = (torch.arange(a.batch) % 1000).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=a.bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds, inner = timed(step, a.reps, torch if cuda else None)
    result = {"batch": a.batch, "depth": a.depth, "bf16": a.bf16, "model": source, "inner": inner, "seconds": seconds,
              **stats([a.batch / s for s in seconds], "images_per_s")}
    if cuda:
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        result["gpu"] = torch.cuda.get_device_name()
    if a.ceiling and cuda:
        del model, opt, x
        torch.cuda.empty_cache()
        result["bf16_gemm_tflops"] = gemm_cuda(torch, 8192, "bf16", 5)["median"]
    return result


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
        model = timm_layout.VisionTransformer(img_size=28, patch_size=a.patch, in_chans=1, num_classes=10, embed_dim=a.width,
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


def peak_rss_mb():
    """This process's high-water resident set (VmHWM), in MiB, as the Java side measures its own. Not getrusage's
    ru_maxrss: Linux carries that across exec, so a peer spawned by a large JVM would report the JVM's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    if a.device == "cuda" and not torch.cuda.is_available():
        print(f"torch {torch.__version__} at {sys.executable} sees no CUDA device", file=sys.stderr)
        sys.exit(4)
    result = {"gemm": gemm, "vit-block": vit_block, "deit-step": deit_step}.get(a.workload, model_step)(torch, a)
    print(json.dumps({
        "peer": "torch", "version": torch.__version__, "workload": a.workload, "device": a.device,
        "threads": torch.get_num_threads(), "openblas_threads": int(os.environ["OPENBLAS_NUM_THREADS"]),
        "reps": a.reps, **result,
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
