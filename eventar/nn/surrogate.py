"""Surrogate gradients for the Heaviside spike function.

Forward: ``S = Θ(x) = 1 if x >= 0 else 0`` with ``x = H - V_th`` (membrane minus threshold).
Backward: ``∂S/∂x`` is replaced by the derivative ``g'(x)`` of a smooth surrogate ``g``:

=====================  ==========================================  ==============================
name                   g(x)                                        g'(x)
=====================  ==========================================  ==============================
``'atan'``             ``arctan(π/2·α·x)/π + 1/2``                  ``α/2 / (1 + (π/2·α·x)²)``
``'sigmoid'``          ``sigmoid(α·x)``                            ``α·sigmoid(αx)·(1 − sigmoid(αx))``
``'piecewise_quadratic'`` (triangle)                                ``max(0, α − α²·|x|)``
=====================  ==========================================  ==============================

These are the same functions (and the same numeric ids) as SpikingJelly 2.0's ``surrogate.ATan``,
``surrogate.Sigmoid`` and ``surrogate.PiecewiseQuadratic``, so eventar's fast CPU path and the
SpikingJelly CUDA kernels compute the same gradients.
"""

from __future__ import annotations

import math
from typing import Dict

import torch

from ..errors import ConfigError

#: eventar surrogate name -> SpikingJelly 2.0 surrogate id (``spikingjelly._ops.surrogate``).
SURROGATE_IDS: Dict[str, int] = {"sigmoid": 0, "atan": 1, "piecewise_quadratic": 2}


def check_surrogate(name: str, alpha: float) -> int:
    """Validate a surrogate ``name`` and its sharpness ``alpha`` (> 0); return its numeric id.

    Raises:
        ConfigError: unknown name (the message lists the known ones) or ``alpha <= 0``.
    """
    if name not in SURROGATE_IDS:
        raise ConfigError(f"surrogate='{name}' is unknown; expected one of {sorted(SURROGATE_IDS)}")
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"surrogate alpha={alpha!r} must be a finite number > 0")
    return SURROGATE_IDS[name]


def surrogate_grad(x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
    """Surrogate derivative ``g'(x)`` element-wise.

    Args:
        x: membrane minus threshold, any shape, float.
        name: ``'atan'``, ``'sigmoid'`` or ``'piecewise_quadratic'``.
        alpha: sharpness α (> 0); larger means a narrower, taller bump.

    Returns:
        tensor of ``x``'s shape and dtype.
    """
    check_surrogate(name, alpha)
    if name == "atan":
        z = x * (math.pi / 2 * alpha)
        return (alpha / 2) / (1 + z * z)
    if name == "sigmoid":
        s = torch.sigmoid(alpha * x)
        return (1 - s) * s * alpha
    return (alpha - alpha * alpha * x.abs()).clamp_min(0)


class _Heaviside(torch.autograd.Function):
    """Θ(x) forward, ``g'(x)·grad`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.name = name
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.name, ctx.alpha), None, None


def spike(x: torch.Tensor, name: str = "atan", alpha: float = 2.0) -> torch.Tensor:
    """Heaviside spike with a surrogate gradient.

    Args:
        x: membrane minus threshold, any shape, float.
        name, alpha: surrogate (see the module table).

    Returns:
        spikes in {0, 1}, same shape and dtype as ``x``; ``x >= 0`` fires.
    """
    check_surrogate(name, alpha)
    return _Heaviside.apply(x, name, float(alpha))


def to_spikingjelly(name: str, alpha: float):
    """The equivalent SpikingJelly 2.0 surrogate object (``spikingjelly.activation_based.surrogate``)."""
    check_surrogate(name, alpha)
    from spikingjelly.activation_based import surrogate as sj_surrogate

    cls = {"atan": sj_surrogate.ATan, "sigmoid": sj_surrogate.Sigmoid,
           "piecewise_quadratic": sj_surrogate.PiecewiseQuadratic}[name]
    return cls(alpha=float(alpha))
