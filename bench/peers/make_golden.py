#!/usr/bin/python3
"""Writes the golden files that the Java models are tested against (DESIGN.md section 4).

    /usr/bin/python3 bench/peers/make_golden.py [--out models/src/test/resources/golden]

For a tiny ViT, a tiny CIFAR ResNet-20 and a tiny ConvNeXt it stores, in one safetensors file each: the input batch, the
labels, the initial weights, the logits, the label-smoothed cross-entropy loss, every parameter's gradient,
and the parameters (and, for the ResNet, the BatchNorm running statistics) after 3 AdamW steps.
Deterministic: fixed seeds, one intra-op thread, float64 arithmetic. See the README.md next to the files.

Arithmetic: weights and inputs are drawn in float32 and stored as float32; everything computed from them
is computed in float64 from exactly those float32 values, then rounded to float32 for storage, so the
stored values are the exact answer (to float32 rounding), not PyTorch's float32 rounding errors. The
same computation is also run in float32 and its largest deviations from the stored values are recorded
in the metadata ("float32_max_abs_diff") as a guide to tolerances.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timm_layout import (CifarResNet, ConvNeXt, VisionTransformer, load_safetensors, save_safetensors,  # noqa: E402
                         state_dict_for_file)

SMOOTHING = 0.1
STEPS = 3
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "models", "src", "test", "resources", "golden"))

VIT_CONFIG = dict(model="vit", img_size=8, patch_size=4, in_chans=3, num_classes=5, embed_dim=24, depth=2,
                  num_heads=3, mlp_ratio=4.0, drop_path_rate=0.0)
VIT_BATCH, VIT_SEED = 4, 1234
RESNET_CONFIG = dict(model="resnet", depth=20, num_classes=5, in_chans=3, img_size=8)
RESNET_BATCH, RESNET_SEED = 3, 5678
# 16x16 images, patch-2 stem: stages at 8, 4, 2, 1 pixels; stage 2 has two blocks, every stage but the first a downsample
CONVNEXT_CONFIG = dict(model="convnext", img_size=16, patch_size=2, in_chans=3, num_classes=5, depths=[1, 1, 2, 1],
                       dims=[8, 16, 24, 32], drop_path_rate=0.0)
CONVNEXT_BATCH, CONVNEXT_SEED = 3, 4321


def make_vit():
    torch.manual_seed(VIT_SEED)
    c = {k: v for k, v in VIT_CONFIG.items() if k != "model"}
    model = VisionTransformer(**c)
    with torch.no_grad():  # noise on every parameter: no zero bias, no unit LayerNorm gain, no 1e-6 cls_token
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(VIT_BATCH, c["in_chans"], c["img_size"], c["img_size"])
    y = torch.randint(0, c["num_classes"], (VIT_BATCH,))
    return model, x, y


def make_resnet():
    torch.manual_seed(RESNET_SEED)
    c = RESNET_CONFIG
    model = CifarResNet(c["depth"], c["num_classes"], c["in_chans"])
    with torch.no_grad():
        for name, m in model.named_modules():
            if hasattr(m, "running_var"):  # BatchNorm: non-trivial affine and running statistics
                m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.75 + 0.5 * torch.rand_like(m.running_var))
        model.fc.bias.add_(0.05 * torch.randn_like(model.fc.bias))
    x = torch.randn(RESNET_BATCH, c["in_chans"], c["img_size"], c["img_size"])
    y = torch.randint(0, c["num_classes"], (RESNET_BATCH,))
    return model, x, y


def make_convnext():
    torch.manual_seed(CONVNEXT_SEED)
    c = {k: v for k, v in CONVNEXT_CONFIG.items() if k != "model"}
    model = ConvNeXt(**c)
    with torch.no_grad():  # noise on every parameter: no zero bias, no unit LayerNorm gain, layer scale far from 1e-6
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(CONVNEXT_BATCH, c["in_chans"], c["img_size"], c["img_size"])
    y = torch.randint(0, c["num_classes"], (CONVNEXT_BATCH,))
    return model, x, y


def run(make, dtype, has_buffers):
    """Everything the golden file holds, computed in `dtype` (results returned as float32)."""
    model, x, y = make()
    weights = state_dict_for_file(model)  # float32, as drawn
    model = model.to(dtype)
    xd = x.to(dtype)
    out = {"input": x, "labels": y.to(torch.float32)}
    out.update(("weights." + k, v) for k, v in weights.items())
    if has_buffers:  # eval mode from the initial weights and running stats, before any train forward
        model.eval()
        with torch.no_grad():
            logits_eval = model(xd)
    model.train()
    # forward 1 of 4 (train mode): logits, loss and gradients at the initial weights
    logits = model(xd)
    loss = F.cross_entropy(logits, y, label_smoothing=SMOOTHING)
    loss.backward()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach()
    out.update(("grad." + n, p.grad.detach().clone()) for n, p in model.named_parameters())
    if has_buffers:
        out["logits_eval"] = logits_eval
    # forwards 2..4: three AdamW steps, each with a fresh train-mode forward/backward on the same batch
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xd), y, label_smoothing=SMOOTHING)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    out["step_losses"] = torch.stack(losses)
    out.update(("step3." + n, p.detach().clone()) for n, p in model.named_parameters())
    if has_buffers:
        out.update(("step3." + n, b.detach().clone()) for n, b in model.named_buffers())
    return {k: v.to(torch.float32).contiguous() for k, v in out.items()}


def describe(config, batch, seed, has_buffers, deviation):
    steps = (
        "1) from weights.*: model.train(); logits = model(input); loss = cross_entropy(logits, labels, "
        "label_smoothing=0.1, mean); loss.backward() -> logits, loss, grad.* (train forward 1 of 4). "
        "2) opt = torch.optim.AdamW(all parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05), "
        "fresh state. 3) three times: zero grads; loss = cross_entropy(model(input), labels, 0.1) in train mode "
        "(train forwards 2, 3, 4; the first of them repeats forward 1 at the same weights); backward; opt.step(). "
        "step_losses[i] is the loss of step i+1's forward (before its update); step3.* are the parameters "
        "after the third update.")
    if has_buffers:
        steps += (" BatchNorm running stats (momentum 0.1, unbiased batch variance) are updated by all 4 train "
                  "forwards: step3.*.running_mean/var are after 4 updates. logits_eval: model.eval() on "
                  "weights.* (initial running stats), computed before any train forward.")
    adamw = dict(name="torch.optim.AdamW", lr=ADAMW["lr"], betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
                 weight_decay=ADAMW["weight_decay"], weight_decay_on="every parameter",
                 update="p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; "
                        "p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)")
    return {
        "config": json.dumps(config),
        "loss_smoothing": str(SMOOTHING),
        "loss": "torch.nn.functional.cross_entropy(logits, labels.long(), label_smoothing=0.1), mean over batch",
        "optimizer": json.dumps(adamw),
        "steps": steps,
        "mode": ("train mode for logits/grad/steps (BatchNorm uses batch statistics; drop path rate 0)"
                 + ("; logits_eval in eval mode (running statistics)" if has_buffers else "")),
        "batch": str(batch),
        "seed": str(seed),
        "compute_dtype": "float64 (stored as float32)",
        "float32_max_abs_diff": json.dumps(deviation),
        "generator": "bench/peers/make_golden.py",
        "torch_version": torch.__version__,
    }


def deviation_of(ref, f32):
    groups = {}
    for k in ref:
        if k in ("input", "labels") or k.startswith("weights."):
            continue
        g = k.split(".")[0]
        d = (ref[k] - f32[k]).abs().max().item() if ref[k].numel() else 0.0
        groups[g] = max(groups.get(g, 0.0), d)
    return {k: float(f"{v:.3g}") for k, v in groups.items()}


def write(out_dir, name, make, config, batch, seed, has_buffers):
    t0 = time.perf_counter()
    ref = run(make, torch.float64, has_buffers)
    f32 = run(make, torch.float32, has_buffers)
    dev = deviation_of(ref, f32)
    path = os.path.join(out_dir, name)
    save_safetensors(path, ref, describe(config, batch, seed, has_buffers, dev))
    back, meta = load_safetensors(path)  # read back with our own reader and check
    assert list(back) == list(ref), "names or order differ after reading back"
    for k, v in ref.items():
        assert back[k].dtype == torch.float32 and back[k].shape == v.shape and torch.equal(back[k], v), k
    assert json.loads(meta["config"]) == config
    n_params = sum(v.numel() for k, v in ref.items() if k.startswith("grad."))
    print(f"{path}: {os.path.getsize(path)} bytes, {len(ref)} tensors, {n_params} parameters, "
          f"loss {ref['loss'].item():.6f}, step_losses {[round(x, 6) for x in ref['step_losses'].tolist()]}, "
          f"float32 deviation {dev}, {time.perf_counter() - t0:.2f}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    write(args.out, "vit_depth2.safetensors", make_vit, VIT_CONFIG, VIT_BATCH, VIT_SEED, False)
    write(args.out, "resnet20.safetensors", make_resnet, RESNET_CONFIG, RESNET_BATCH, RESNET_SEED, True)
    write(args.out, "convnext_1121.safetensors", make_convnext, CONVNEXT_CONFIG, CONVNEXT_BATCH, CONVNEXT_SEED, False)


if __name__ == "__main__":
    main()
