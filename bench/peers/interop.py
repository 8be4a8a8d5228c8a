#!/usr/bin/python3
"""Checkpoint interop between the Java project and timm-layout PyTorch models (DESIGN.md section 4).

Run with Debian's interpreter (/usr/bin/python3 with python3-torch):

  logits   --checkpoint C --inputs X --out L [--model vit|resnet|convnext] [--heads N]
           Loads the state dict in C (timm names; BF16/F16/F32; a golden file's "weights.*" also works),
           builds the model from C's "config" metadata if present, else from the tensor names and shapes
           (a ViT's head count cannot be inferred: --heads is then required), runs it in EVAL mode on the
           tensor `input` of X and writes `logits` (F32) to L.
  export   --model vit|resnet|convnext --config JSON|FILE --seed S --out C [--perturb STD]
           Writes a PyTorch-initialized state dict (no num_batches_tracked) with "config" metadata.
           --perturb adds normal noise of that std to every parameter (non-trivial biases and norms).
  inputs   --shape N,C,H,W --seed S --out X
           Writes a standard-normal tensor `input` (and uniform class `labels` if --classes is given).
  compare  A B [--key K ...] [--tol T]
           Prints max |a - b| (and max |b|) for each key present in both files (default: all common keys);
           exits 1 if --tol is given and some difference exceeds it.
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timm_layout import build_model, load_safetensors, save_safetensors, state_dict_for_file  # noqa: E402

# accepted spellings of config keys in checkpoint metadata -> our name
ALIASES = {
    "embed_dim": ("embed_dim", "embedDim", "width", "dim", "hidden_size"),
    "depth": ("depth", "num_layers", "layers"),
    "num_heads": ("num_heads", "numHeads", "heads"),
    "patch_size": ("patch_size", "patchSize", "patch"),
    "img_size": ("img_size", "imgSize", "image_size", "imageSize"),
    "in_chans": ("in_chans", "inChans", "in_channels", "inChannels", "channels"),
    "num_classes": ("num_classes", "numClasses", "classes"),
    "mlp_ratio": ("mlp_ratio", "mlpRatio"),
    "depths": ("depths",),
    "dims": ("dims",),
    "drop_path_rate": ("drop_path_rate", "drop_path"),
}


def strip_prefix(tensors):
    """A golden file holds its state dict under 'weights.'; use just that part when present."""
    if any(k.startswith("weights.") for k in tensors):
        return {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}
    return dict(tensors)


def kind_of(names):
    if "cls_token" in names or "patch_embed.proj.weight" in names:
        return "vit"
    if "conv1.weight" in names and any(n.startswith("layer1.") for n in names):
        return "resnet"
    if "stem.0.weight" in names and "stages.0.blocks.0.conv_dw.weight" in names:
        return "convnext"
    raise SystemExit("cannot tell the architecture from the tensor names (expected cls_token/patch_embed.* "
                     "for a ViT, conv1/layer1.* for a CIFAR ResNet or stem.0/stages.* for a ConvNeXt); pass --model")


def metadata_config(metadata):
    raw = metadata.get("config")
    if raw is None:
        return {}
    try:
        c = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SystemExit(f"metadata 'config' is not JSON: {e}")
    if not isinstance(c, dict):
        raise SystemExit("metadata 'config' is not a JSON object")
    if isinstance(c.get("model"), dict):  # tolerate {"model": {...}} nesting
        c = {**c, **c["model"]}
    out = {}
    for ours, names in ALIASES.items():
        for n in names:
            if n in c and c[n] is not None:
                out[ours] = c[n]
                break
    return out


def count_indexed(names, prefix):
    idx = {int(m.group(1)) for n in names for m in [re.match(re.escape(prefix) + r"(\d+)\.", n)] if m}
    if idx and idx != set(range(len(idx))):
        raise SystemExit(f"{prefix}* indices are not 0..{len(idx) - 1}: {sorted(idx)}")
    return len(idx)


def infer_config(sd, kind, meta, heads):
    names = set(sd)
    if kind == "vit":
        w = sd["patch_embed.proj.weight"]
        D, C, P = w.shape[0], w.shape[1], w.shape[-1]
        L = sd["pos_embed"].shape[1] - 1
        g = int(round(L ** 0.5))
        if g * g != L:
            raise SystemExit(f"pos_embed has {L} patch tokens, not a square grid")
        inferred = dict(embed_dim=D, in_chans=C, patch_size=P, img_size=g * P,
                        depth=count_indexed(names, "blocks."), num_classes=sd["head.weight"].shape[0],
                        mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / D)
        if heads is not None:
            inferred["num_heads"] = heads
        elif "num_heads" in meta:
            inferred["num_heads"] = int(meta["num_heads"])
        else:
            raise SystemExit("the checkpoint has no 'config' metadata with num_heads: pass --heads N")
    elif kind == "convnext":
        w = sd["stem.0.weight"]
        depths = [count_indexed(names, f"stages.{i}.blocks.") for i in range(4)]
        dims = [sd[f"stages.{i}.blocks.0.conv_dw.weight"].shape[0] for i in range(4)]
        # the tensors do not tell the image size; the metadata's, else the smallest the stem takes (8 x patch)
        inferred = dict(patch_size=w.shape[-1], in_chans=w.shape[1], num_classes=sd["head.fc.weight"].shape[0],
                        depths=depths, dims=dims, img_size=int(meta.get("img_size", 8 * w.shape[-1])))
    else:
        n = count_indexed(names, "layer1.")
        inferred = dict(depth=6 * n + 2, num_classes=sd["fc.weight"].shape[0], in_chans=sd["conv1.weight"].shape[1])
    for k, v in meta.items():  # metadata must agree with the tensors
        if k not in inferred or k == "num_heads" or (kind == "resnet" and k == "img_size"):
            continue
        same = [int(x) for x in v] == list(inferred[k]) if isinstance(inferred[k], list) else float(v) == float(inferred[k])
        if not same:
            raise SystemExit(f"metadata config says {k}={v} but the tensors say {inferred[k]}")
    if kind == "vit" and heads is not None and "num_heads" in meta and int(meta["num_heads"]) != heads:
        print(f"note: --heads {heads} overrides metadata num_heads={meta['num_heads']}", file=sys.stderr)
    return dict(model=kind, **inferred)


def load_model(path, kind=None, heads=None):
    tensors, metadata = load_safetensors(path, dtype=torch.float32)
    sd = strip_prefix(tensors)
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    meta = metadata_config(metadata)
    kind = kind or kind_of(sd)  # the names are unambiguous; a metadata "model" string is not relied on
    config = infer_config(sd, kind, meta, heads)
    model = build_model(config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{path}: state dict does not match {config}: missing {missing}, unexpected {unexpected}")
    return model.eval(), config


def cmd_logits(a):
    model, config = load_model(a.checkpoint, a.model, a.heads)
    xs, _ = load_safetensors(a.inputs, dtype=torch.float32)
    if "input" not in xs:
        raise SystemExit(f"{a.inputs} has no tensor 'input' (has {list(xs)[:8]}...)")
    with torch.no_grad():
        logits = model(xs["input"])
    save_safetensors(a.out, {"logits": logits.contiguous()},
                     {"config": json.dumps(config), "mode": "eval", "checkpoint": os.path.basename(a.checkpoint),
                      "generator": "bench/peers/interop.py logits"})
    print(f"{a.out}: logits {list(logits.shape)} from {config}")


def cmd_export(a):
    raw = a.config
    if os.path.isfile(raw):
        with open(raw) as f:
            raw = f.read()
    c = json.loads(raw)
    c = {**{ours: c[n] for ours, names in ALIASES.items() for n in names if n in c}, "model": a.model}
    if a.model == "vit":
        c.setdefault("mlp_ratio", 4.0)
        c.setdefault("drop_path_rate", 0.0)
    if a.model == "convnext":
        c.setdefault("drop_path_rate", 0.0)
    torch.manual_seed(a.seed)
    model = build_model(c)
    if a.perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(a.perturb * torch.randn_like(p))
    sd = state_dict_for_file(model)
    save_safetensors(a.out, sd, {"config": json.dumps(model.config), "seed": str(a.seed),
                                 "generator": "bench/peers/interop.py export"})
    print(f"{a.out}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())} values, config {model.config}")


def cmd_inputs(a):
    shape = [int(s) for s in a.shape.split(",")]
    g = torch.Generator().manual_seed(a.seed)
    out = {"input": torch.randn(shape, generator=g)}
    if a.classes:
        out["labels"] = torch.randint(0, a.classes, (shape[0],), generator=g).to(torch.float32)
    save_safetensors(a.out, out, {"seed": str(a.seed), "generator": "bench/peers/interop.py inputs"})
    print(f"{a.out}: input {shape}")


def cmd_compare(a):
    ta, _ = load_safetensors(a.a, dtype=torch.float32)
    tb, _ = load_safetensors(a.b, dtype=torch.float32)
    keys = a.key or [k for k in ta if k in tb]
    worst, bad = 0.0, False
    for k in keys:
        if k not in ta or k not in tb:
            print(f"{k}: missing in {a.a if k not in ta else a.b}")
            bad = True
            continue
        x, y = ta[k].double(), tb[k].double()
        if x.shape != y.shape:
            print(f"{k}: shape {list(x.shape)} vs {list(y.shape)}")
            bad = True
            continue
        d = (x - y).abs().max().item() if x.numel() else 0.0
        worst = max(worst, d)
        print(f"{k}: max_abs_diff {d:.3e}  max_abs {y.abs().max().item() if y.numel() else 0.0:.3e}  shape {list(x.shape)}")
    print(f"max_abs_diff {worst:.3e} over {len(keys)} key(s)")
    if bad or (a.tol is not None and worst > a.tol):
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", choices=["vit", "resnet", "convnext"])
    p.add_argument("--heads", type=int)
    p.set_defaults(fn=cmd_logits)
    p = sub.add_parser("export")
    p.add_argument("--model", choices=["vit", "resnet", "convnext"], required=True)
    p.add_argument("--config", required=True, help="JSON object or a file holding one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--perturb", type=float, default=0.0)
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("inputs")
    p.add_argument("--shape", required=True, help="N,C,H,W")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", type=int)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_inputs)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--key", action="append")
    p.add_argument("--tol", type=float)
    p.set_defaults(fn=cmd_compare)
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    a.fn(a)


if __name__ == "__main__":
    main()
