"""Image backbones written with torch alone (no torchvision, no timm): ViT and ResNet.

EventTransAct runs one of these on every frame.  Layer names follow the common conventions
(``patch_embed``, ``blocks.N.attn.qkv``, ``layer1.0.conv1`` …) so that a user who has a
state dict of the same architecture can load it with :func:`load_backbone_weights`; nothing is
ever downloaded.
"""

from __future__ import annotations

import os
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError


class ViTBlock(nn.Module):
    """Pre-norm transformer block (x: (B, N, E) -> same)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, e = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, heads, N, e/heads)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, e))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """Vision transformer returning the final CLS feature.

    Args:
        image_size: input side S (square images).
        patch: patch side p (S divisible by p).
        dim, depth, heads: width E, number of blocks, attention heads.
        in_chans: input channels C.
    Shapes:
        x: (B, C, S, S) -> (B, E).
    """

    def __init__(self, image_size: int = 224, patch: int = 16, dim: int = 768, depth: int = 12, heads: int = 12, in_chans: int = 3):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not divisible by patch {patch}")
        self.image_size, self.out_dim = image_size, dim
        self.patch_embed = nn.Conv2d(in_chans, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (image_size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(ViTBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"ViT built for {self.image_size}×{self.image_size} inputs, got {tuple(x.shape[-2:])}")
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


class BasicBlock(nn.Module):
    """ResNet basic block (two 3×3 convs); ``expansion = 1``."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _shortcut(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.downsample(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1×1, 3×3, 1×1); ``expansion = 4``."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        out = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = _shortcut(cin, out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return F.relu(self.bn3(self.conv3(h)) + self.downsample(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet returning globally average-pooled features.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-50.
        widths: stage widths (64, 128, 256, 512) in the standard nets; smaller for CPU variants.
        in_chans: input channels C.
    Shapes:
        x: (B, C, H, W) -> (B, widths[-1] * block.expansion).
    """

    def __init__(self, block, layers: Sequence[int], widths: Sequence[int] = (64, 128, 256, 512), in_chans: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages: List[nn.Module] = []
        cin = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, stride=2 if (j == 0 and i > 0) else 1))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(-2, -1))


def load_backbone_weights(module: nn.Module, path: "os.PathLike[str] | str", strict: bool = True) -> None:
    """Load a local state dict (``.safetensors`` or a torch file, read with ``weights_only=True``).

    Keys prefixed with ``module.`` (DDP) or ``backbone.`` are accepted.  Nothing is downloaded.

    Raises:
        CheckpointError: the file is missing/unreadable, or (strict) keys or shapes do not match.
    """
    path = os.fspath(path)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state
    except Exception as e:  # noqa: BLE001 - any failure to read is reported the same way
        raise CheckpointError(f"{path}: cannot read backbone weights ({e})") from None
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
    own = module.state_dict()
    bad_shape = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if bad_shape or (strict and (missing or unexpected)):
        raise CheckpointError(
            f"{path}: backbone weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatch {bad_shape[:5]} ({len(missing)} / {len(unexpected)} / {len(bad_shape)} in all)"
        )
    module.load_state_dict(state, strict=strict)
