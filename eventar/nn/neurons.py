r"""Multi-step spiking neurons as functions: charge, fire, reset over a time-first sequence.

Every function takes ``x: (T, ...)`` real input current (time axis first) and returns spikes
``(T, ...)`` in {0, 1} of the same dtype.  The membrane starts at ``V[-1] = V_reset`` (hard reset) or
``0`` (soft reset) on every call: there is no hidden state to reset.

Discretised equations (SpikingJelly 2.0 conventions; ``V_r = V_reset``, or 0 for soft reset)::

    charge   LIF, decay_input=True :  H[t] = V[t-1] + (X[t] - (V[t-1] - V_r)) / τ
             LIF, decay_input=False:  H[t] = V[t-1] - (V[t-1] - V_r) / τ + X[t]
             PLIF: the same with 1/τ replaced by q = sigmoid(w), w learnable
             IF                    :  H[t] = V[t-1] + X[t]
    fire     S[t] = Θ(H[t] - V_th)            (Θ(0) = 1; backward uses a surrogate g'(H - V_th))
    reset    hard: V[t] = S[t]·V_reset + (1 - S[t])·H[t]
             soft: V[t] = H[t] - S[t]·V_th    (v_reset=None)

With ``detach_reset=True`` the ``S[t]`` inside the reset carries no gradient.

Backends (``backend=``):

* ``'numba'``: eventar's compiled CPU loops (:mod:`eventar.nn._lif_cpu`), a custom autograd
  function with a hand-derived backward; float32/float64 CPU tensors.  The default on CPU.
* ``'spikingjelly'``: SpikingJelly 2.0's ``lif_multi_step`` / ``plif_multi_step`` /
  ``if_multi_step``, which pick triton or native CUDA kernels when present.  The default on CUDA.
* ``'torch'``: a plain PyTorch loop through :func:`eventar.nn.surrogate.spike` (autograd does the
  backward); the reference, and the fallback for other dtypes/devices.
* ``'auto'``: as described above.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..errors import ConfigError, EventarError
from .surrogate import check_surrogate, spike, to_spikingjelly

_LIF, _PLIF, _IF = 0, 1, 2
BACKENDS = ("auto", "numba", "spikingjelly", "torch")


def check_neuron_args(v_threshold: float, v_reset: Optional[float], surrogate: str, alpha: float,
                      backend: str = "auto") -> None:
    """Validate the parameters shared by every neuron; raise :class:`ConfigError` naming the bad one."""
    check_surrogate(surrogate, alpha)
    if not (isinstance(v_threshold, (int, float)) and math.isfinite(v_threshold)):
        raise ConfigError(f"v_threshold={v_threshold!r} must be a finite number")
    if v_reset is not None:
        if not (isinstance(v_reset, (int, float)) and math.isfinite(v_reset)):
            raise ConfigError(f"v_reset={v_reset!r} must be a finite number or None (soft reset)")
        if v_reset >= v_threshold:
            raise ConfigError(f"v_reset={v_reset} must be below v_threshold={v_threshold}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend='{backend}' is unknown; expected one of {BACKENDS}")


def check_tau(tau: float, name: str = "tau") -> None:
    """τ must be a finite number > 1 (decay 1/τ in (0, 1)), as in SpikingJelly."""
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 1):
        raise ConfigError(f"{name}={tau!r} must be a finite number > 1 (membrane time constant in steps)")


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise EventarError(f"neuron input must be a torch.Tensor of shape (T, ...), got {type(x).__name__}")
    if x.dim() < 2:
        raise EventarError(f"neuron input must have shape (T, ...) with the time axis first and at "
                           f"least one neuron axis, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise EventarError(f"neuron input must be a floating-point tensor, got dtype {x.dtype}")


def _resolve_backend(x: torch.Tensor, backend: str) -> str:
    if backend != "auto":
        if backend == "numba" and (x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64)):
            raise ConfigError(f"backend='numba' needs a float32/float64 CPU tensor, got {x.dtype} on {x.device}")
        return backend
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return "numba"
    if x.device.type == "cuda":
        return "spikingjelly"
    return "torch"


# --------------------------------------------------------------------------------------------
# torch reference
def _torch_loop(x, kind, k, decay_input, v_threshold, v_reset, surrogate, alpha, detach_reset):
    vr = 0.0 if v_reset is None else v_reset
    v = torch.full_like(x[0], vr)
    out = []
    for t in range(x.shape[0]):
        xt = x[t]
        if kind == _IF:
            h = v + xt
        elif kind == _LIF:
            h = v + (xt - (v - vr)) / k if decay_input else v - (v - vr) / k + xt
        else:
            h = v + (xt - (v - vr)) * k if decay_input else v - (v - vr) * k + xt
        s = spike(h - v_threshold, surrogate, alpha)
        sr = s.detach() if detach_reset else s
        v = sr * vr + (1 - sr) * h if v_reset is not None else h - sr * v_threshold
        out.append(s)
    return torch.stack(out)


# --------------------------------------------------------------------------------------------
# numba fast path
class _NumbaNeuron(torch.autograd.Function):
    """Custom autograd function around :mod:`eventar.nn._lif_cpu` (forward and backward loops).

    Saves only the input: the backward recomputes the membrane block by block."""

    @staticmethod
    def forward(ctx, x, w, kind, tau, decay_input, v_threshold, v_reset, surrogate_id, alpha,
                detach_reset, need_grad):  # type: ignore[override]
        from . import _lif_cpu

        T = x.shape[0]
        xc = x.detach().contiguous()
        xn = xc.view(-1).numpy()
        if kind == _PLIF:
            k = float(torch.sigmoid(w.detach().float()).to(x.dtype))
        else:
            k = float(tau) if kind == _LIF else 1.0
        vr = 0.0 if v_reset is None else float(v_reset)
        p = _lif_cpu.params(xn.dtype, k, float(v_threshold), vr, float(alpha))
        mode = _lif_cpu.charge_mode(kind, bool(decay_input))
        s = torch.empty_like(xc)
        _lif_cpu.lif_forward(xn, s.view(-1).numpy(), T, p, mode, v_reset is not None)
        if need_grad:   # keep state for the backward only when a gradient will be asked for
            ctx.save_for_backward(xc)
            ctx.p = p
            ctx.cfg = (mode, v_reset is not None, bool(detach_reset), int(surrogate_id))
            ctx.k = k
        return s

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        import numpy as np

        from . import _lif_cpu

        (xc,) = ctx.saved_tensors
        mode, hard, detach_reset, sid = ctx.cfg
        T = xc.shape[0]
        gs = grad.to(xc.dtype).contiguous()
        gx = torch.empty_like(xc)
        gk = np.zeros(_lif_cpu.n_blocks(xc.numel() // T), dtype=np.float64)
        _lif_cpu.lif_backward(gs.view(-1).numpy(), xc.view(-1).numpy(), gx.view(-1).numpy(), gk, T, ctx.p,
                              mode, hard, detach_reset, sid)
        gw = None
        if mode in (2, 3) and ctx.needs_input_grad[1]:
            q = ctx.k
            gw = torch.tensor(gk.sum() * q * (1 - q), dtype=torch.float32).to(grad.dtype).reshape(())
        return gx, gw, None, None, None, None, None, None, None, None, None


# --------------------------------------------------------------------------------------------
def _run(x, kind, tau, w, decay_input, v_threshold, v_reset, surrogate, alpha, detach_reset, backend):
    _check_input(x)
    check_neuron_args(v_threshold, v_reset, surrogate, alpha, backend)
    be = _resolve_backend(x, backend)
    if be == "numba":
        sid = check_surrogate(surrogate, alpha)
        need_grad = torch.is_grad_enabled() and (x.requires_grad or (w is not None and w.requires_grad))
        return _NumbaNeuron.apply(x, w, kind, tau, decay_input, v_threshold, v_reset, sid, alpha, detach_reset,
                                  need_grad)
    if be == "spikingjelly":
        from spikingjelly.activation_based import functional as sjf

        sg = to_spikingjelly(surrogate, alpha)
        v0 = torch.full(x.shape[1:], 0.0 if v_reset is None else v_reset, dtype=torch.float32, device=x.device)
        if kind == _LIF:
            out = sjf.lif_multi_step(x, v0, tau, decay_input, v_threshold, v_reset, sg, detach_reset)
        elif kind == _PLIF:
            out = sjf.plif_multi_step(x, v0, w, decay_input, v_threshold, v_reset, sg, detach_reset)
        else:
            out = sjf.if_multi_step(x, v0, v_threshold, v_reset, sg, detach_reset)
        return out[0]
    k = tau if kind == _LIF else (torch.sigmoid(w.float()).to(x.dtype) if kind == _PLIF else 1.0)
    return _torch_loop(x, kind, k, decay_input, v_threshold, v_reset, surrogate, alpha, detach_reset)


def lif_multistep(x: torch.Tensor, tau: float = 2.0, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                  surrogate: str = "atan", alpha: float = 2.0, detach_reset: bool = False,
                  decay_input: bool = True, backend: str = "auto") -> torch.Tensor:
    """Leaky integrate-and-fire over a sequence (equations in the module docstring).

    Args:
        x: (T, ...) input current, float; T time steps first, any neuron axes after.
        tau: membrane time constant τ > 1, in time steps.
        v_threshold: firing threshold V_th.
        v_reset: hard-reset potential, or None for soft reset (subtract V_th).
        surrogate, alpha: surrogate gradient name and sharpness (:mod:`eventar.nn.surrogate`).
        detach_reset: stop the gradient through the reset.
        decay_input: whether the input is scaled by 1/τ as well.
        backend: 'auto' | 'numba' | 'spikingjelly' | 'torch'.

    Returns:
        (T, ...) spikes in {0, 1}, dtype of ``x``.
    """
    check_tau(tau)
    return _run(x, _LIF, float(tau), None, decay_input, v_threshold, v_reset, surrogate, alpha, detach_reset,
                backend)


def plif_multistep(x: torch.Tensor, w: torch.Tensor, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                   surrogate: str = "atan", alpha: float = 2.0, detach_reset: bool = False,
                   decay_input: bool = True, backend: str = "auto") -> torch.Tensor:
    """Parametric LIF: LIF with decay ``q = sigmoid(w)`` (i.e. τ = 1/q) learnt through ``w``.

    Args:
        x: (T, ...) input current, float.
        w: 0-d tensor, the learnable decay logit (``w = -log(τ₀ - 1)`` starts at τ₀); gets a gradient.
        other arguments: as :func:`lif_multistep`.

    Returns:
        (T, ...) spikes in {0, 1}, dtype of ``x``.
    """
    if not (isinstance(w, torch.Tensor) and w.numel() == 1):
        raise EventarError(f"PLIF w must be a one-element tensor, got {type(w).__name__} "
                           f"{tuple(getattr(w, 'shape', ()))}")
    return _run(x, _PLIF, None, w.reshape(()), decay_input, v_threshold, v_reset, surrogate, alpha,
                detach_reset, backend)


def if_multistep(x: torch.Tensor, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 surrogate: str = "atan", alpha: float = 2.0, detach_reset: bool = False,
                 backend: str = "auto") -> torch.Tensor:
    """Integrate-and-fire (no leak): ``H[t] = V[t-1] + X[t]``; arguments as :func:`lif_multistep`.

    Returns:
        (T, ...) spikes in {0, 1}, dtype of ``x``.
    """
    return _run(x, _IF, None, None, True, v_threshold, v_reset, surrogate, alpha, detach_reset, backend)


def init_w(init_tau: float) -> float:
    """PLIF decay logit for an initial time constant: ``w = -log(τ₀ - 1)`` so ``sigmoid(w) = 1/τ₀``."""
    check_tau(init_tau, "init_tau")
    return -math.log(init_tau - 1.0)

