"""Mamba mixer (uni- or bidirectional), RMSNorm pre-norm residual blocks with drop-path, and a
stack of them: the sequence stage of SpikMamba, built on stock primitives only.

The bidirectional mixer is VideoMamba / Vim's ``bimamba`` (the fork SpikMamba's code needs),
rebuilt without a fork: one shared ``in_proj`` (x and gate z) and ``out_proj``; the backward
direction owns ``conv1d_b``, ``x_proj_b``, ``dt_proj_b``, ``A_b_log`` and ``D_b`` and scans the
reversed sequence; the two directions are summed (no halving) before ``out_proj``.  With
``bidirectional=False`` the parameter names match mamba-ssm's ``Mamba`` so its state dicts load.

On CUDA the selective scan is mamba-ssm's fused kernel and the causal convolution is
causal-conv1d's, both imported lazily when installed; elsewhere the numba CPU scan and a padded
``torch.nn.functional.conv1d`` compute the same maths.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EventarError
from .scan import selective_scan

__all__ = ["DropPath", "RMSNorm", "causal_conv1d", "Mamba", "MambaBlock", "MambaStack",
           "official_drop_path_rates"]

_CAUSAL_CONV = None  # None = not looked up, False = unavailable, else causal_conv1d_fn


def _causal_conv_cuda():
    global _CAUSAL_CONV
    if _CAUSAL_CONV is None:
        try:
            from causal_conv1d import causal_conv1d_fn
        except Exception:
            _CAUSAL_CONV = False
        else:
            _CAUSAL_CONV = causal_conv1d_fn
    return _CAUSAL_CONV or None


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward hands on a contiguous gradient (CPU depthwise conv1d's backward
    is several times slower on the transposed gradients Mamba's x_proj produces)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g.contiguous()


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
                  silu: bool = True) -> torch.Tensor:
    """Depthwise causal convolution: out[b, d, t] = Σ_k w[d, k] · x[b, d, t - K + 1 + k] (+ bias).

    x: (B, D, L); weight: (D, K) or (D, 1, K); bias: (D,) or None. Returns (B, D, L), SiLU-activated
    when ``silu``. Uses causal-conv1d's CUDA kernel for CUDA tensors when it is installed.
    """
    w = weight.reshape(weight.shape[0], -1)
    if x.dim() != 3 or x.shape[1] != w.shape[0]:
        raise EventarError(f"causal_conv1d: x has shape {tuple(x.shape)}, expected (B, {w.shape[0]}, L)")
    if x.is_cuda:
        fn = _causal_conv_cuda()
        if fn is not None:
            return fn(x, w, bias, activation="silu" if silu else None)
    k = w.shape[1]
    # contiguous input and gradient: CPU conv1d is much slower on the (B, L, D)-strided views Mamba uses
    y = _ContiguousGrad.apply(F.conv1d(F.pad(x.contiguous(), (k - 1, 0)), w[:, None, :], bias, groups=w.shape[0]))
    return F.silu(y) if silu else y


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's whole residual branch with probability p
    and scale the survivors by 1 / (1 - p). x: (B, ...) -> (B, ...). Identity in eval or p = 0."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise EventarError(f"DropPath: p must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x², last dim) + eps) · weight, computed in float32. x: (..., dim)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


class _Direction(nn.Module):
    """The per-direction parameters of a Mamba mixer: conv1d, x_proj, dt_proj, A_log, D."""

    def __init__(self, d_inner, d_state, d_conv, dt_rank, conv_bias, dt_min, dt_max, dt_init_floor,
                 dt_scale):
        super().__init__()
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1,
                                bias=conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        # dt_proj: weights ~ U(±dt_rank^-½·scale); bias = softplus⁻¹(dt), dt log-uniform in [dt_min, dt_max]
        std = dt_rank ** -0.5 * dt_scale
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real: A = -(1, 2, ..., N) for every channel
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))


class Mamba(nn.Module):
    """Mamba (S6) mixer, optionally bidirectional. x: (B, L, d_model) -> (B, L, d_model).

    d_inner = expand · d_model; dt_rank = ceil(d_model / 16) when "auto". Per direction:
    causal depthwise conv (kernel d_conv) + SiLU, x_proj -> (Δ_low, B, C), dt_proj Δ_low -> Δ,
    selective scan with A = -exp(A_log), skip D, gate silu(z). Bidirectional: the backward
    direction scans the reversed sequence with its own parameters; outputs are summed.
    ``scan_backend`` is passed to :func:`eventar.nn.scan.selective_scan`.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank="auto", dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4, dt_scale: float = 1.0, conv_bias: bool = True,
                 bias: bool = False, bidirectional: bool = False, scan_backend: str = "auto"):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.bidirectional = bidirectional
        self.scan_backend = scan_backend
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        fwd = _Direction(self.d_inner, d_state, d_conv, self.dt_rank, conv_bias, dt_min, dt_max,
                         dt_init_floor, dt_scale)
        # forward-direction parameters keep mamba-ssm's names (conv1d, x_proj, dt_proj, A_log, D)
        self.conv1d, self.x_proj, self.dt_proj = fwd.conv1d, fwd.x_proj, fwd.dt_proj
        self.A_log, self.D = fwd.A_log, fwd.D
        if bidirectional:
            bwd = _Direction(self.d_inner, d_state, d_conv, self.dt_rank, conv_bias, dt_min,
                             dt_max, dt_init_floor, dt_scale)
            self.conv1d_b, self.x_proj_b, self.dt_proj_b = bwd.conv1d, bwd.x_proj, bwd.dt_proj
            self.A_b_log, self.D_b = bwd.A_log, bwd.D
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def _scan(self, x, z, conv, x_proj, dt_proj, A_log, D):
        """x, z: (B, d_inner, L) -> (B, d_inner, L) for one direction."""
        x = causal_conv1d(x, conv.weight, conv.bias, silu=True)
        dbl = x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, bm, cm = torch.split(dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ dt_proj.weight.t()).transpose(1, 2)  # (B, d_inner, L), bias added in the scan
        A = -torch.exp(A_log.float())
        return selective_scan(x, dt, A, bm.transpose(1, 2), cm.transpose(1, 2), D.float(), z=z,
                              delta_bias=dt_proj.bias.float(), delta_softplus=True,
                              backend=self.scan_backend)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.dim() != 3 or hidden.shape[-1] != self.d_model:
            raise EventarError(f"Mamba: input has shape {tuple(hidden.shape)}, "
                               f"expected (batch, length, {self.d_model})")
        xz = self.in_proj(hidden).transpose(1, 2)  # (B, 2·d_inner, L)
        x, z = xz.chunk(2, dim=1)
        y = self._scan(x, z, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D)
        if self.bidirectional:
            yb = self._scan(x.flip(-1), z.flip(-1), self.conv1d_b, self.x_proj_b, self.dt_proj_b,
                            self.A_b_log, self.D_b)
            y = y + yb.flip(-1)
        return self.out_proj(y.transpose(1, 2))


class MambaBlock(nn.Module):
    """Pre-norm residual block (mamba-ssm's ``Block``): residual ← residual + DropPath(hidden);
    hidden ← mixer(RMSNorm(residual)).

    forward(hidden (B, L, C), residual (B, L, C) or None) -> (hidden, residual); the residual
    stream is kept in float32 when ``residual_in_fp32``.
    """

    def __init__(self, d_model: int, drop_path: float = 0.0, residual_in_fp32: bool = True,
                 norm_eps: float = 1e-5, **mamba_kwargs):
        super().__init__()
        self.norm = RMSNorm(d_model, eps=norm_eps)
        self.mixer = Mamba(d_model, **mamba_kwargs)
        self.drop_path = DropPath(drop_path)
        self.residual_in_fp32 = residual_in_fp32

    def forward(self, hidden: torch.Tensor, residual: Optional[torch.Tensor] = None):
        residual = hidden if residual is None else residual + self.drop_path(hidden)
        if self.residual_in_fp32:
            residual = residual.float()
        hidden = self.mixer(self.norm(residual.to(self.norm.weight.dtype)))
        return hidden, residual


def official_drop_path_rates(depth: int, drop_path: float = 0.1, schedule_len: int = 12) -> List[float]:
    """SpikMamba / Vim's per-layer drop-path: ([0] + linspace(0, drop_path, schedule_len))[:depth]
    (for depth 4 and 0.1: 0, 0, 0.0091, 0.0182)."""
    rates = [0.0] + torch.linspace(0, drop_path, schedule_len).tolist()
    return [float(r) for r in rates[:depth]]


class MambaStack(nn.Module):
    """``depth`` MambaBlocks, then residual + DropPath(last hidden) and a final RMSNorm.

    x: (B, L, C) -> (B, L, C). ``drop_path_rates``: one rate per block (default
    :func:`official_drop_path_rates`); ``final_drop_path`` applies to the last hidden state.
    Remaining keyword arguments go to :class:`Mamba` (d_state, d_conv, expand, bidirectional, ...).
    """

    def __init__(self, d_model: int, depth: int, drop_path_rates: Optional[Sequence[float]] = None,
                 final_drop_path: float = 0.1, residual_in_fp32: bool = True,
                 norm_eps: float = 1e-5, **mamba_kwargs):
        super().__init__()
        if depth < 1:
            raise EventarError(f"MambaStack: depth must be >= 1, got {depth}")
        rates = list(drop_path_rates) if drop_path_rates is not None else official_drop_path_rates(depth)
        if len(rates) != depth:
            raise EventarError(f"MambaStack: {len(rates)} drop_path_rates for depth {depth}")
        self.layers = nn.ModuleList(
            MambaBlock(d_model, drop_path=r, residual_in_fp32=residual_in_fp32, norm_eps=norm_eps,
                       **mamba_kwargs) for r in rates)
        self.drop_path = DropPath(final_drop_path)
        self.norm_f = RMSNorm(d_model, eps=norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.norm_f.weight.shape[0]
        if x.dim() != 3 or x.shape[-1] != d:
            raise EventarError(f"MambaStack: input has shape {tuple(x.shape)}, expected (batch, length, {d})")
        hidden, residual = x, None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        residual = residual + self.drop_path(hidden)
        return self.norm_f(residual.to(self.norm_f.weight.dtype)).to(x.dtype)
