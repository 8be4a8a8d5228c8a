#!/usr/bin/python3
"""timm-layout PyTorch reference models and a dependency-free safetensors reader/writer.

The parameter names, shapes and forward semantics here are exactly timm's (ViT, ConvNeXt) and He et al.'s
CIFAR ResNet (option-A shortcuts), so a state dict moves between this file, timm and the Java project
(models/, whose layers use the same names) without renaming.

Run with Debian's interpreter (/usr/bin/python3 with python3-torch 1.13); no timm, no safetensors package.

    VisionTransformer   patch_embed.proj, cls_token, pos_embed, blocks.i.{norm1,attn.qkv,attn.proj,norm2,
                        mlp.fc1,mlp.fc2}, norm, head
    CifarResNet         conv1, bn1, layer{1,2,3}.j.{conv1,bn1,conv2,bn2}, fc
    ConvNeXt            stem.{0,1}, stages.i.downsample.{0,1} (i > 0), stages.i.blocks.j.{conv_dw,norm,mlp.fc1,mlp.fc2,
                        gamma}, head.norm, head.fc
    load_safetensors    path -> (OrderedDict name -> tensor, metadata dict)
    save_safetensors    path, {name: tensor}, {str: str}
    state_dict_for_file model -> OrderedDict without num_batches_tracked (our files hold floats only)
"""
import collections
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------------------

_ST_TO_TORCH = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_TORCH_TO_ST = {v: k for k, v in _ST_TO_TORCH.items()}
_MAX_HEADER = 100_000_000


def _element_size(dtype):
    return torch.empty((), dtype=_ST_TO_TORCH[dtype]).element_size()


def save_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> tensor, in iteration order) to `path` as safetensors.

    Layout: 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a multiple of 8),
    then the tensors' raw little-endian bytes, contiguous, in the given order, with no gaps. Metadata values
    must be strings. The file is written to a temporary name and renamed, so readers never see half a file.
    """
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str, got {k!r}: {type(v).__name__}")
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in _TORCH_TO_ST:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        t = t.detach().to("cpu").contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            arr = t.numpy()
            raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        assert len(raw) == t.numel() * t.element_size()
        header[name] = {
            "dtype": _TORCH_TO_ST[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def load_safetensors(path, dtype=None):
    """Reads a safetensors file: returns (OrderedDict name -> tensor in header order, metadata dict).

    Validates like the reference implementation: header size, JSON object, byte ranges matching
    shape × dtype and tiling the data buffer exactly. F32, BF16, F16 (and F64/integer types) are read as
    stored; pass dtype=torch.float32 to convert every floating tensor.
    """
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: file too short ({len(blob)} bytes) for a safetensors header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} is invalid for a file of {len(blob)} bytes")
    text = blob[8:8 + n].decode("utf-8")
    if not text.startswith("{"):
        raise ValueError(f"{path}: header does not start with '{{'")
    header = json.loads(text, object_pairs_hook=collections.OrderedDict)
    metadata = dict(header.pop("__metadata__", None) or {})
    data = memoryview(blob)[8 + n:]
    entries = []
    for name, e in header.items():
        dt = e["dtype"]
        if dt not in _ST_TO_TORCH:
            raise ValueError(f"{path}: tensor '{name}': unsupported dtype {dt}")
        shape = [int(d) for d in e["shape"]]
        b, end = (int(x) for x in e["data_offsets"])
        need = math.prod(shape) * _element_size(dt)
        if end - b != need:
            raise ValueError(f"{path}: tensor '{name}': byte range [{b}, {end}) does not hold "
                             f"{shape} x {dt} ({need} bytes)")
        entries.append((b, end, name, dt, shape))
    pos = 0
    for b, end, name, _, _ in sorted(entries):
        if b != pos:
            raise ValueError(f"{path}: tensor '{name}' starts at {b}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: data buffer has {len(data)} bytes, tensors cover {pos}")
    out = collections.OrderedDict()
    for b, end, name, dt, shape in entries:
        chunk = bytearray(data[b:end])
        if len(chunk) == 0:
            t = torch.empty(shape, dtype=_ST_TO_TORCH[dt])
        else:
            t = torch.frombuffer(chunk, dtype=_ST_TO_TORCH[dt]).reshape(shape)
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[name] = t
    return out, metadata


# ---------------------------------------------------------------------------------------------------------
# ViT (timm.models.vision_transformer.VisionTransformer, class token, global_pool='token')
# ---------------------------------------------------------------------------------------------------------

def drop_path(x, drop_prob: float = 0.0, training: bool = False):
    """Per-sample stochastic depth, as timm.layers.drop_path (scale_by_keep=True)."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0:
        random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self):
        return f"drop_prob={self.drop_prob:.3f}"


class PatchEmbed(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=True)

    def forward(self, x):
        B, C, H, W = x.shape
        if H != self.img_size or W != self.img_size:
            raise ValueError(f"input {H}x{W} does not match img_size {self.img_size}")
        return self.proj(x).flatten(2).transpose(1, 2)  # B, L, D


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each B, heads, N, hd
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, drop_path_rate=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.drop_path1 = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path2 = DropPath(drop_path_rate)

    def forward(self, x):
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return x


class VisionTransformer(nn.Module):
    """timm VisionTransformer (class token first in pos_embed, pre-norm blocks, final norm, head on x[:, 0])."""

    def __init__(self, img_size, patch_size, in_chans, num_classes, embed_dim, depth, num_heads,
                 mlp_ratio=4.0, drop_path_rate=0.0):
        super().__init__()
        self.config = dict(model="vit", img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                           num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                           mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate)
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.patch_embed.num_patches, embed_dim))
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]  # as timm
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, dpr[i]) for i in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self.init_weights()

    def init_weights(self):
        """timm's 'timm' init: pos_embed trunc_normal .02, cls_token normal 1e-6, Linear trunc_normal .02
        with zero bias (head included), LayerNorm ones/zeros, patch conv PyTorch default."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        return self.norm(x)

    def forward(self, x):
        return self.head(self.forward_features(x)[:, 0])


# ---------------------------------------------------------------------------------------------------------
# CIFAR ResNet (He et al. 2016, section 4.2; option-A shortcuts)
# ---------------------------------------------------------------------------------------------------------

class BatchNorm2d(nn.Module):
    """nn.BatchNorm2d (momentum 0.1, eps 1e-5, affine, running stats) without `num_batches_tracked`.

    Train mode normalizes with the batch's biased variance and updates running_var with the unbiased one
    (running = (1 - momentum) * running + momentum * batch), exactly as nn.BatchNorm2d does.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)  # torch/torchvision checkpoints carry it
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = stride != 1 or in_planes != planes
        self.pad = planes // 4

    def shortcut(self, x):
        if not self.downsample:
            return x
        # option A: subsample by 2, zero-pad planes//4 channels on each side (no parameters)
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0.0)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes, in_chans=3):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n+2 (20, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.config = dict(model="resnet", depth=depth, num_classes=num_classes, in_chans=in_chans)
        self.conv1 = nn.Conv2d(in_chans, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = BatchNorm2d(16)
        in_planes = 16
        for li, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if j == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{li}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():  # as the usual CIFAR reference code: kaiming normal (fan_in) weights
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = out.mean(dim=(2, 3))  # global average pooling
        return self.fc(out)


# ---------------------------------------------------------------------------------------------------------
# ConvNeXt (timm.models.convnext.ConvNeXt, v1: patch stem, conv_mlp=False, ls_init_value=1e-6, head_norm_first=False)
# ---------------------------------------------------------------------------------------------------------

class LayerNorm2d(nn.LayerNorm):
    """timm.layers.LayerNorm2d: LayerNorm over the channels of NCHW (permute, layer_norm, permute back)."""

    def __init__(self, num_channels, eps=1e-6):
        super().__init__(num_channels, eps=eps)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """timm ConvNeXtBlock: depthwise 7x7 conv, LayerNorm (channels-last), MLP x4 with exact GELU, layer scale, drop path."""

    def __init__(self, dim, drop_path_rate=0.0, ls_init_value=1e-6):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.gamma = nn.Parameter(ls_init_value * torch.ones(dim))
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x)
        x = x.permute(0, 2, 3, 1)
        x = self.norm(x)
        x = self.mlp(x)
        x = x.permute(0, 3, 1, 2)
        x = x.mul(self.gamma.reshape(1, -1, 1, 1))
        return self.drop_path(x) + shortcut


class ConvNeXtStage(nn.Module):
    def __init__(self, in_chs, out_chs, depth, dp_rates, downsample):
        super().__init__()
        if downsample:
            self.downsample = nn.Sequential(LayerNorm2d(in_chs), nn.Conv2d(in_chs, out_chs, kernel_size=2, stride=2, bias=True))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[ConvNeXtBlock(out_chs, dp_rates[j]) for j in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class NormClassifierHead(nn.Module):
    """timm NormMlpClassifierHead without a hidden layer: global average pool, LayerNorm2d, flatten, fc."""

    def __init__(self, dim, num_classes):
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = x.mean(dim=(2, 3), keepdim=True)
        return self.fc(self.norm(x).flatten(1))


class ConvNeXt(nn.Module):
    """timm ConvNeXt: stem (patch conv + LayerNorm2d), 4 stages (the first without downsample), norm head."""

    def __init__(self, img_size, patch_size, in_chans, num_classes, depths, dims, drop_path_rate=0.0):
        super().__init__()
        depths, dims = list(depths), list(dims)
        if len(depths) != 4 or len(dims) != 4:
            raise ValueError(f"depths and dims must list 4 stages, got {depths}, {dims}")
        self.config = dict(model="convnext", img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                           num_classes=num_classes, depths=depths, dims=dims, drop_path_rate=drop_path_rate)
        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=patch_size, stride=patch_size, bias=True),
                                  LayerNorm2d(dims[0]))
        dp = [x.tolist() for x in torch.linspace(0, drop_path_rate, sum(depths)).split(depths)]  # as timm
        self.stages = nn.Sequential(*[ConvNeXtStage(dims[max(i - 1, 0)], dims[i], depths[i], dp[i], i > 0) for i in range(4)])
        self.head = NormClassifierHead(dims[3], num_classes)
        for m in self.modules():  # timm _init_weights: trunc_normal .02 and zero bias for Conv2d and Linear
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


# ---------------------------------------------------------------------------------------------------------
# state dicts
# ---------------------------------------------------------------------------------------------------------

def state_dict_for_file(model):
    """The model's state dict (parameters and buffers, timm names), detached, without num_batches_tracked."""
    return collections.OrderedDict(
        (k, v.detach().clone()) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))


def build_model(config):
    """A model from a config dict as stored in a file's "config" metadata (key "model": vit|resnet|convnext)."""
    c = dict(config)
    kind = c.pop("model")
    if kind == "vit":
        keys = ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth", "num_heads",
                "mlp_ratio", "drop_path_rate")
        return VisionTransformer(**{k: c[k] for k in keys if k in c})
    if kind == "resnet":
        return CifarResNet(c["depth"], c["num_classes"], c.get("in_chans", 3))
    if kind == "convnext":
        keys = ("img_size", "patch_size", "in_chans", "num_classes", "depths", "dims", "drop_path_rate")
        return ConvNeXt(**{k: c[k] for k in keys if k in c})
    raise ValueError(f"unknown model kind {kind!r} (expected vit, resnet or convnext)")
