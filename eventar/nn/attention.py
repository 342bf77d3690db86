"""SpikeSLA: SpikMamba's spiking window linear attention (after MLLA, "Mamba-like linear attention").

Tokens arrive as windows: ``x: (n, L, C)`` with n = B·T frames (row b·T + t) and L = h·w tokens of
one frame in raster order; attention never mixes windows.  Per window:

* q, k = LIF(BatchNorm(Linear(x)))  -> spikes in {0, 1}, then the feature map φ(s) = ELU(s) + 1
* v = x (neither projected nor spiking)
* 2-D rotary position embedding (:func:`rope_2d`) on q and k
* out = (RoPE(q) · Σ_j RoPE(k_j)ᵀ v_j / L) / (q · mean_j k_j + ε)     (:func:`linear_attention`)
* + LePE: a depthwise 3×3 convolution of v on the h×w grid

Spiking neurons run over time.  ``lif_time="frames"`` (default) runs them over each sample's own
T frames; ``lif_time="batch_x_frames"`` reproduces the official code, whose LIF takes the whole
B·T axis as time (state leaks from one sample of the batch into the next).

The BatchNorm on q/k normalises per token position (``num_features = L``), as the official code
does; it ties a module to its grid size.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, EventarError
from .lif import LIF
from .mamba import DropPath

__all__ = ["rope_2d", "linear_attention", "lif_over_frames", "SpikingLinearAttention",
           "SpikeSLABlock", "LIF_TIME_MODES"]

LIF_TIME_MODES = ("frames", "batch_x_frames")


def _check_lif_time(mode: str) -> None:
    if mode not in LIF_TIME_MODES:
        raise ConfigError(f"lif_time='{mode}' is unknown; expected one of {LIF_TIME_MODES}")


def lif_over_frames(lif: nn.Module, x: torch.Tensor, frames: int, mode: str = "frames") -> torch.Tensor:
    """Apply a multi-step neuron to per-frame tensors.

    x: (B·T, ...) with row b·T + t; frames: T. ``mode="frames"``: time = each sample's T frames;
    ``"batch_x_frames"``: time = all B·T rows in order (the official SpikMamba behaviour).
    Returns spikes of x's shape.
    """
    _check_lif_time(mode)
    if mode == "batch_x_frames":
        return lif(x)
    n = x.shape[0]
    if frames < 1 or n % frames:
        raise EventarError(f"lif_over_frames: {n} rows is not a multiple of frames={frames}")
    y = x.reshape(n // frames, frames, *x.shape[1:]).transpose(0, 1)  # (T, B, ...)
    return lif(y).transpose(0, 1).reshape(x.shape)


def _rope_angles(h: int, w: int, dim: int, base: float, device, dtype) -> torch.Tensor:
    """Rotation angle per position and channel pair: (h, w, dim // 2)."""
    if dim % 4:
        raise EventarError(f"rope_2d: channel count {dim} must be a multiple of 4")
    k = dim // 4
    theta = base ** (-torch.arange(k, device=device, dtype=torch.float64) / k)
    rows = torch.arange(h, device=device, dtype=torch.float64)[:, None] * theta  # (h, k)
    cols = torch.arange(w, device=device, dtype=torch.float64)[:, None] * theta  # (w, k)
    ang = torch.cat([rows[:, None, :].expand(h, w, k), cols[None, :, :].expand(h, w, k)], dim=-1)
    return ang.to(dtype)


def rope_2d(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """2-D rotary position embedding over a token grid.

    x: (..., h, w, C) with C a multiple of 4. Channel pairs (2p, 2p+1) are rotated by the angle
    i·θ_p (row i) for p < C/4 and j·θ_{p−C/4} (column j) for the other half, θ_q = base^(−q/(C/4)).
    So ⟨rope(q)[i, j], rope(k)[i', j']⟩ depends on the positions only through (i − i', j − j').
    Returns a tensor of x's shape and dtype.
    """
    h, w, c = x.shape[-3:]
    ang = _rope_angles(h, w, c, base, x.device, torch.float32 if x.dtype != torch.float64 else x.dtype)
    cos, sin = ang.cos(), ang.sin()
    xe = x[..., 0::2].to(cos.dtype)
    xo = x[..., 1::2].to(cos.dtype)
    out = torch.stack([xe * cos - xo * sin, xe * sin + xo * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     q_rot: Optional[torch.Tensor] = None, k_rot: Optional[torch.Tensor] = None,
                     eps: float = 1e-6) -> torch.Tensor:
    """Normalised linear attention in O(L·d²) (MLLA's form).

    q, k: (..., L, d) non-negative features; v: (..., L, e); q_rot, k_rot: rotated q, k
    (default q, k). out_i = Σ_j ⟨q_rot_i, k_rot_j⟩ v_j / L  /  (⟨q_i, mean_j k_j⟩ + eps),
    computed as q_rot · (k_rotᵀ v / L) without forming the L×L matrix. Returns (..., L, e).
    """
    q_rot = q if q_rot is None else q_rot
    k_rot = k if k_rot is None else k_rot
    n = q.shape[-2]
    z = 1.0 / ((q * k.mean(dim=-2, keepdim=True)).sum(-1, keepdim=True) + eps)  # (..., L, 1)
    kv = (k_rot.transpose(-1, -2) * n ** -0.5) @ (v * n ** -0.5)  # (..., d, e)
    return (q_rot @ kv) * z


class _DWConv2d(nn.Module):
    """Depthwise 3×3 convolution of tokens on their grid: (n, h·w, C) -> (n, h·w, C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        n, l, c = x.shape
        h, w = grid
        y = self.conv(x.transpose(1, 2).reshape(n, c, h, w))
        return y.reshape(n, c, l).transpose(1, 2)


def _spiking_lif() -> LIF:
    # The official neuron: spikingjelly MultiStepLIFNode(tau=2, detach_reset=True), Sigmoid(α=4).
    return LIF(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0,
               detach_reset=True)


class SpikingLinearAttention(nn.Module):
    """Spiking linear attention of one window (module docstring).

    x: (n, L, C) with n = B·T, L = grid[0]·grid[1]; forward(x, frames=T) -> (n, L, C).
    """

    def __init__(self, dim: int, num_heads: int, grid: Tuple[int, int], lif_time: str = "frames",
                 qk_drop: float = 0.0, rope_base: float = 10000.0):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"SpikingLinearAttention: dim {dim} not divisible by {num_heads} heads")
        _check_lif_time(lif_time)
        self.dim, self.num_heads, self.grid = dim, num_heads, tuple(grid)
        self.lif_time = lif_time
        self.rope_base = rope_base
        n_tok = self.grid[0] * self.grid[1]
        self.qk = nn.Linear(dim, 2 * dim)
        self.qk_drop = nn.Dropout(qk_drop)
        self.qk_bn = nn.BatchNorm1d(n_tok)  # per token position, as in the official code
        self.qk_lif = _spiking_lif()
        self.lepe = _DWConv2d(dim)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        n, l, c = x.shape
        h, w = self.grid
        if l != h * w or c != self.dim:
            raise EventarError(f"SpikingLinearAttention: input {tuple(x.shape)}, expected (n, {h * w}, {self.dim})")
        qk = self.qk_bn(self.qk_drop(self.qk(x)))
        qk = lif_over_frames(self.qk_lif, qk, frames, self.lif_time)
        qk = F.elu(qk) + 1.0
        q, k = qk.chunk(2, dim=-1)
        q_rot = rope_2d(q.reshape(n, h, w, c), self.rope_base).reshape(n, l, c)
        k_rot = rope_2d(k.reshape(n, h, w, c), self.rope_base).reshape(n, l, c)
        nh, hd = self.num_heads, c // self.num_heads

        def heads(t):
            return t.reshape(n, l, nh, hd).transpose(1, 2)

        out = linear_attention(heads(q), heads(k), heads(x), heads(q_rot), heads(k_rot))
        out = out.transpose(1, 2).reshape(n, l, c)
        return out + self.lepe(x, self.grid)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class SpikeSLABlock(nn.Module):
    """One SpikeSLA block (MLLA block with spiking q/k), uni- or bidirectional.

    forward(x: (n, L, C), frames: T) -> (n, L, C), n = B·T windows of grid (h, w) = L tokens::

        x ← x + CPE₁(x);  s ← x;  u ← LN(x)
        g ← SiLU(act_proj(u));  a ← SiLU(DWConv(in_proj(u)));  a ← Attn(a)
        x ← s + DropPath(out_proj(a ⊙ g));  x ← x + CPE₂(x);  x ← x + DropPath(MLP(LN(x)))

    Bidirectional: the in_proj output is joined with its token-reversed copy (2L tokens, a 2h×w
    grid for the DWConv); the same attention runs on both halves, the reversed half is flipped
    back, both are gated and out-projected, and a learned token-mixing Linear(2L → L) merges them.
    ``act_proj_twice`` reproduces the official code's gate (act_proj applied to its own output,
    which then also feeds in_proj); ``official_cpe2`` reproduces its bidirectional CPE₂ (added to
    LN(x) instead of the block output). Both are off by default.
    """

    def __init__(self, dim: int, num_heads: int, grid: Tuple[int, int], mlp_ratio: float = 4.0,
                 drop: float = 0.0, drop_path: float = 0.0, bidirectional: bool = False,
                 lif_time: str = "frames", qk_drop: float = 0.0, act_proj_twice: bool = False,
                 official_cpe2: bool = False):
        super().__init__()
        self.grid = tuple(grid)
        self.bidirectional = bidirectional
        self.act_proj_twice = act_proj_twice
        self.official_cpe2 = official_cpe2
        n_tok = self.grid[0] * self.grid[1]
        self.cpe1 = _DWConv2d(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.act_proj = nn.Linear(dim, dim)
        self.in_proj = nn.Linear(dim, dim)
        self.dwc = _DWConv2d(dim)
        self.attn = SpikingLinearAttention(dim, num_heads, self.grid, lif_time, qk_drop)
        self.out_proj = nn.Linear(dim, dim)
        if bidirectional:
            self.token_mix = nn.Linear(2 * n_tok, n_tok)
        self.drop_path = DropPath(drop_path)
        self.cpe2 = _DWConv2d(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        h, w = self.grid
        x = x + self.cpe1(x, self.grid)
        shortcut = x
        ln = self.norm1(x)
        u = self.act_proj(ln) if self.act_proj_twice else ln
        g = F.silu(self.act_proj(u))
        a = self.in_proj(u)
        if not self.bidirectional:
            a = F.silu(self.dwc(a, self.grid))
            y = self.out_proj(self.attn(a, frames) * g)
        else:
            n_tok = h * w
            a2 = F.silu(self.dwc(torch.cat([a, a.flip(1)], dim=1), (2 * h, w)))
            fwd = self.attn(a2[:, :n_tok], frames)
            bwd = self.attn(a2[:, n_tok:], frames).flip(1)
            y = torch.cat([self.out_proj(fwd * g), self.out_proj(bwd * g)], dim=1)  # (n, 2L, C)
            y = self.token_mix(y.transpose(1, 2)).transpose(1, 2)
        x = shortcut + self.drop_path(y)
        if self.bidirectional and self.official_cpe2:
            x = ln + self.cpe2(x, self.grid)
        else:
            x = x + self.cpe2(x, self.grid)
        return x + self.drop_path(self.mlp(self.norm2(x)))
