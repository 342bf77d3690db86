"""SpikMamba (Chen et al., ACM MM Asia 2024): spiking patch embedding, SpikeSLA blocks per frame,
a bidirectional Mamba stage over all frames' tokens, mean pooling and a linear head.

Input: frames ``x: (B, T, C, H, W)`` float (AFE frames in [0, 1] for HARDVS / DVS128 Gesture,
event-count frames for SyntheticGestures); output: class logits ``(B, num_classes)``.

Layer by layer (Chen et al., ACM MM Asia 2024, arXiv 2410.16746, and the official bimamba 8-frame file
of github.com/Typistchen/SpikMamba):

1. Conv3d(C → E, kernel (1, p, p), stride (1, p, p)) per frame -> (B·T, L, E), L = (H/p)·(W/p);
   BatchNorm1d over token positions; LIF (τ = 2, detach_reset, sigmoid surrogate α = 4).
2. + spatial position embedding (L, E) + temporal one (T, E); dropout.  (The official code also
   adds and then drops a CLS token; it never reaches the output, so it is left out.)
3. ``sla_depth`` SpikeSLA blocks, each frame one attention window (:mod:`eventar.nn.attention`).
4. Mamba stage: tokens as one sequence (B, T·L, E), frame-major; ``mamba_depth`` RMSNorm pre-norm
   residual blocks of (bidirectional) Mamba; final RMSNorm (:mod:`eventar.nn.mamba`).
5. Mean over the T·L tokens -> Linear(E → num_classes).

Differences from the official code, each an option named for what it is: the batch size is never
baked in; LIF neurons run over each sample's own frames (``lif_time="frames"``), where the
official code runs them over the batch × frames axis (``lif_time="batch_x_frames"``); the
official gate and CPE quirks are ``act_proj_twice`` / ``official_cpe2`` (off by default).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, EventarError
from ..nn.attention import SpikeSLABlock, lif_over_frames, _spiking_lif, _check_lif_time
from ..nn.mamba import MambaStack, official_drop_path_rates
from ._registry import register_model

__all__ = ["SpikMamba", "SpikingPatchEmbed3d", "count_parameters", "example_input", "smoke_overrides"]


class SpikingPatchEmbed3d(nn.Module):
    """Spiking 3-D patch embedding: Conv3d (1, p, p) + BatchNorm over tokens + LIF.

    x: (B, T, C, H, W) -> spikes (B·T, L, E) in {0, 1}, row b·T + t, L = (H/p)·(W/p) raster order.
    """

    def __init__(self, in_channels: int, embed_dim: int, img_size: int, patch_size: int,
                 lif_time: str = "frames"):
        super().__init__()
        if img_size % patch_size:
            raise ConfigError(f"SpikMamba: img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.grid = (img_size // patch_size, img_size // patch_size)
        self.lif_time = lif_time
        self.proj = nn.Conv3d(in_channels, embed_dim, (1, patch_size, patch_size),
                              stride=(1, patch_size, patch_size))
        self.bn = nn.BatchNorm1d(self.grid[0] * self.grid[1])
        self.lif = _spiking_lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.proj(x.transpose(1, 2))  # (B, E, T, h, w)
        y = y.permute(0, 2, 3, 4, 1).reshape(b * t, -1, y.shape[1])  # (B·T, L, E)
        return lif_over_frames(self.lif, self.bn(y), t, self.lif_time)


class SpikMamba(nn.Module):
    """SpikMamba classifier (module docstring). forward(x: (B, T, C, H, W)) -> (B, num_classes).

    Args:
        num_classes: output classes.  frames: T.  in_channels: C.  img_size: H = W (pixels).
        patch_size: p.  embed_dim: E.  sla_depth / num_heads / mlp_ratio / sla_bidirectional:
        the SpikeSLA blocks.  mamba_depth: Mamba blocks (0 = SpikeSLA only, the ablation).
        mamba_bidirectional, d_state, d_conv, expand: the Mamba mixer.  drop_rate: dropout after
        the position embeddings and in the MLPs.  drop_path: the largest drop-path rate.
        lif_time: "frames" | "batch_x_frames".  scan_backend: see :func:`eventar.nn.selective_scan`.
    """

    def __init__(self, num_classes: int = 300, frames: int = 8, in_channels: int = 3,
                 img_size: int = 128, patch_size: int = 8, embed_dim: int = 256, sla_depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4.0, sla_bidirectional: bool = True,
                 mamba_depth: int = 4, mamba_bidirectional: bool = True, d_state: int = 16,
                 d_conv: int = 4, expand: int = 2, drop_rate: float = 0.0, drop_path: float = 0.1,
                 lif_time: str = "frames", act_proj_twice: bool = False, official_cpe2: bool = False,
                 scan_backend: str = "auto"):
        super().__init__()
        _check_lif_time(lif_time)
        if embed_dim % 4 or embed_dim % num_heads:
            raise ConfigError(f"SpikMamba: embed_dim {embed_dim} must be a multiple of 4 and of num_heads {num_heads}")
        self.frames, self.in_channels, self.img_size = int(frames), int(in_channels), int(img_size)
        self.num_classes = int(num_classes)
        self.patch_embed = SpikingPatchEmbed3d(in_channels, embed_dim, img_size, patch_size, lif_time)
        grid = self.patch_embed.grid
        n_tok = grid[0] * grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(n_tok, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.temporal_pos_embed = nn.Parameter(torch.zeros(frames, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path, sla_depth).tolist() if sla_depth > 1 else [0.0] * sla_depth
        self.sla_blocks = nn.ModuleList(
            SpikeSLABlock(embed_dim, num_heads, grid, mlp_ratio, drop_rate, r, sla_bidirectional,
                          lif_time, act_proj_twice=act_proj_twice, official_cpe2=official_cpe2)
            for r in dpr)
        self.mamba = None
        if mamba_depth > 0:
            self.mamba = MambaStack(embed_dim, mamba_depth,
                                    drop_path_rates=official_drop_path_rates(mamba_depth, drop_path),
                                    final_drop_path=drop_path, d_state=d_state, d_conv=d_conv,
                                    expand=expand, bidirectional=mamba_bidirectional,
                                    scan_backend=scan_backend)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C, H, W) -> token features (B, T·L, E)."""
        want = (self.frames, self.in_channels, self.img_size, self.img_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != want:
            raise EventarError(f"SpikMamba: input has shape {tuple(x.shape)}, expected (B, {', '.join(map(str, want))})"
                               " = (batch, frames, channels, height, width)")
        b, t = x.shape[:2]
        tok = self.patch_embed(x)  # (B·T, L, E)
        n_tok, e = tok.shape[1:]
        tok = tok.reshape(b, t, n_tok, e) + self.pos_embed + self.temporal_pos_embed[:, None, :]
        tok = self.pos_drop(tok).reshape(b * t, n_tok, e)
        for blk in self.sla_blocks:
            tok = blk(tok, t)
        seq = tok.reshape(b, t * n_tok, e)
        return self.mamba(seq) if self.mamba is not None else seq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x).mean(dim=1))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (every SpikMamba parameter takes part in the forward)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_input(model: SpikMamba, batch_size: int = 2) -> torch.Tensor:
    """A random input for ``model``: (batch_size, T, C, H, W) Poisson event-count frames (mean 0.5)."""
    g = torch.Generator().manual_seed(0)
    shape = (batch_size, model.frames, model.in_channels, model.img_size, model.img_size)
    return torch.poisson(torch.full(shape, 0.5), generator=g)


def smoke_overrides(name: str) -> dict:
    """Overrides shrinking variant ``name`` to a tiny model with the same layers (registry tests):
    a 2×2 token grid, E = 16, 2 heads, d_state 4, 5 classes; T, patch size and depths unchanged."""
    fn = _MODELS_BY_NAME[name]
    patch = fn.defaults.get("patch_size", 8)
    return dict(img_size=2 * patch, embed_dim=16, num_heads=2, d_state=4, num_classes=5)


# --------------------------------------------------------------------------------------------
# registered variants
# --------------------------------------------------------------------------------------------

_MODELS_BY_NAME: dict = {}


def _variant(name: str, doc: str, **defaults):
    def build(**overrides):
        return SpikMamba(**{**defaults, **overrides})

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    build.defaults = dict(defaults)
    _MODELS_BY_NAME[name] = build
    register_model(build)
    globals()[name] = build
    return build


for _t in (8, 16):
    for _p in (8, 4):
        for _m in (1, 4):
            _variant(
                f"spikmamba_t{_t}_p{_p}_m{_m}",
                f"SpikMamba, T={_t} frames of 3x128x128, patch {_p}, E=256, 2 bidirectional SpikeSLA blocks, "
                f"{_m} bidirectional Mamba block(s); 300 classes (HARDVS) unless num_classes is given.",
                frames=_t, patch_size=_p, mamba_depth=_m)

_variant("spikmamba_synthetic",
         "Small SpikMamba for CPU runs on SyntheticGestures: T=8 count frames of 2x32x32, patch 8 (4x4 tokens), "
         "E=64, 4 heads, 1 bidirectional SpikeSLA block, 1 bidirectional Mamba block (d_state 8), 11 classes.",
         num_classes=11, frames=8, in_channels=2, img_size=32, patch_size=8, embed_dim=64,
         sla_depth=1, num_heads=4, mamba_depth=1, d_state=8, drop_path=0.05)
