"""Numba-compiled multi-step LIF / PLIF / IF forward and backward loops (the CPU fast path).

Layout: the input is viewed as a flat C-contiguous ``(T·N,)`` array (time first, every neuron axis
flattened to N).  Neurons are split into blocks of ``_BLOCK`` that run in parallel (``prange``);
inside a block the loop is ``for t: row(x[t, block])`` where each row is a small compiled function
over 1-D contiguous slices, which LLVM vectorises (the membrane of a block stays in L1 cache).

Memory: the forward writes only the spikes.  The backward does not read a saved membrane: it
recomputes the block's ``H[t]`` into a small scratch buffer from ``x`` (cheap arithmetic, no
``(T, N)`` allocation), then runs backward through time.

``error_model="numpy"``: no Python zero-division checks, whose per-element branch would stop LLVM
from vectorising the surrogate's division (divisors here are never zero: τ > 1, 1 + z² >= 1).

Arithmetic follows SpikingJelly 2.0's CPU reference expression for expression (same operation
order, all in the input's float type), so spikes match it bit for bit.

``mode`` (charge): 0 LIF ``v + (x - (v - vr)) / k``; 1 LIF without input decay ``v - (v - vr) / k + x``;
2 PLIF ``v + (x - (v - vr)) * q``; 3 PLIF without input decay ``v - (v - vr) * q + x``; 4 IF ``v + x``.
Parameter vector ``p`` (input dtype, see :func:`params`):
``[tau_or_q, v_threshold, v_reset_value, alpha, π/2·α, α/2, α², 1]``.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit, prange

_BLOCK = 2048


@njit(cache=True, inline="always", error_model="numpy")
def _sg(x, one, alpha, half_alpha, alpha_sq, z_scale, surrogate_id):
    # Surrogate derivative g'(x); ids as in eventar.nn.surrogate.SURROGATE_IDS.  Every constant
    # arrives in x's float type (numba would promote float32 with a Python int to float64).
    if surrogate_id == 1:
        z = x * z_scale
        return half_alpha / (one + z * z)
    if surrogate_id == 0:
        s = one / (one + np.exp(-(alpha * x)))
        return (one - s) * s * alpha
    r = alpha - alpha_sq * abs(x)
    return r if r > 0 else r * 0


@njit(cache=True, inline="always", error_model="numpy")
def _charge(v, x, k, vr, mode):
    if mode == 0:
        return v + (x - (v - vr)) / k
    if mode == 1:
        return v - (v - vr) / k + x
    if mode == 2:
        return v + (x - (v - vr)) * k
    if mode == 3:
        return v - (v - vr) * k + x
    return v + x


@njit(cache=True, inline="always", error_model="numpy")
def _after_reset(hv, sp, vth, vr, one, hard_reset):
    if hard_reset:
        return sp * vr + (one - sp) * hv
    return hv - sp * vth


@njit(cache=True, error_model="numpy")
def _row_spikes(xr, sr, v, p, mode, hard_reset):
    # one time step of one block: charge, fire (spikes to sr), reset; v updated in place
    k = p[0]
    vth = p[1]
    vr = p[2]
    one = p[7]
    for i in range(v.size):
        hv = _charge(v[i], xr[i], k, vr, mode)
        sp = one if hv >= vth else one * 0
        sr[i] = sp
        v[i] = _after_reset(hv, sp, vth, vr, one, hard_reset)


@njit(cache=True, error_model="numpy")
def _row_membrane(xr, hr, v, p, mode, hard_reset):
    # as _row_spikes but keeps the charged membrane H (for the backward) instead of the spikes
    k = p[0]
    vth = p[1]
    vr = p[2]
    one = p[7]
    for i in range(v.size):
        hv = _charge(v[i], xr[i], k, vr, mode)
        sp = one if hv >= vth else one * 0
        hr[i] = hv
        v[i] = _after_reset(hv, sp, vth, vr, one, hard_reset)


@njit(cache=True, inline="always", error_model="numpy")
def _grad_h(gs, ht, carry, vth, vr, one, alpha, half_alpha, alpha_sq, z_scale, hard_reset, detach_reset,
            surrogate_id):
    # ∂L/∂H[t] = ∂L/∂S[t]·g'(H - Vth) + ∂L/∂V[t]·∂V[t]/∂H[t]
    sg = _sg(ht - vth, one, alpha, half_alpha, alpha_sq, z_scale, surrogate_id)
    if hard_reset:
        rg = one - (one if ht >= vth else one * 0)
        if not detach_reset:
            rg = rg + (vr - ht) * sg
    else:
        rg = one if detach_reset else one - vth * sg
    return gs * sg + carry * rg


@njit(cache=True, error_model="numpy")
def _row_backward(gsr, hr, gxr, carry, p, mode, hard_reset, detach_reset, surrogate_id):
    # one step backward for LIF / IF (modes 0, 1, 4): writes ∂L/∂X[t], updates carry = ∂L/∂V[t-1]
    k = p[0]
    vth = p[1]
    vr = p[2]
    one = p[7]
    alpha, half_alpha, alpha_sq, z_scale = p[3], p[5], p[6], p[4]   # locals: p may alias the outputs
    for i in range(carry.size):
        gh = _grad_h(gsr[i], hr[i], carry[i], vth, vr, one, alpha, half_alpha, alpha_sq, z_scale, hard_reset,
                     detach_reset, surrogate_id)
        if mode == 0:
            gxr[i] = gh / k
            carry[i] = gh - gh / k
        elif mode == 1:
            gxr[i] = gh
            carry[i] = gh - gh / k
        else:
            gxr[i] = gh
            carry[i] = gh


@njit(cache=True, error_model="numpy")
def _row_backward_plif(gsr, hr, hprev, has_prev, xr, gxr, carry, p, mode, hard_reset, detach_reset,
                       surrogate_id):
    # one step backward for PLIF (modes 2, 3); also returns this step's ∂L/∂q term
    q = p[0]
    vth = p[1]
    vr = p[2]
    one = p[7]
    alpha, half_alpha, alpha_sq, z_scale = p[3], p[5], p[6], p[4]
    acc = 0.0
    for i in range(carry.size):
        gh = _grad_h(gsr[i], hr[i], carry[i], vth, vr, one, alpha, half_alpha, alpha_sq, z_scale, hard_reset,
                     detach_reset, surrogate_id)
        gxr[i] = gh * q if mode == 2 else gh
        carry[i] = gh - gh * q
        # membrane before this step (after the previous step's reset; V_reset at t = 0)
        if has_prev:
            hp = hprev[i]
            spp = one if hp >= vth else one * 0
            prev = _after_reset(hp, spp, vth, vr, one, hard_reset)
        else:
            prev = vr
        if mode == 2:
            acc += gh * (xr[i] - (prev - vr))
        else:
            acc += gh * (-(prev - vr))
    return acc


@njit(cache=True, error_model="numpy")
def _forward_block(x, s, T, N, b, p, mode, hard_reset):
    lo = b * _BLOCK
    m = min(lo + _BLOCK, N) - lo
    v = np.full(m, p[2])  # initial membrane: v_reset (hard) or 0 (soft: p[2] = 0)
    for t in range(T):
        o = t * N + lo
        _row_spikes(x[o:o + m], s[o:o + m], v, p, mode, hard_reset)


@njit(cache=True, error_model="numpy")
def _backward_block(gs, x, gx, T, N, b, p, mode, hard_reset, detach_reset, surrogate_id):
    lo = b * _BLOCK
    m = min(lo + _BLOCK, N) - lo
    v = np.full(m, p[2])
    h = np.empty(T * m, dtype=x.dtype)      # this block's H[t], recomputed
    for t in range(T):
        o = t * N + lo
        _row_membrane(x[o:o + m], h[t * m:(t + 1) * m], v, p, mode, hard_reset)
    carry = np.zeros(m, dtype=x.dtype)
    acc = 0.0                                 # float64 accumulator for the PLIF τ-gradient
    for t in range(T - 1, -1, -1):
        o = t * N + lo
        if mode == 2 or mode == 3:
            tp = t - 1 if t > 0 else 0
            acc += _row_backward_plif(gs[o:o + m], h[t * m:(t + 1) * m], h[tp * m:(tp + 1) * m], t > 0,
                                      x[o:o + m], gx[o:o + m], carry, p, mode, hard_reset, detach_reset,
                                      surrogate_id)
        else:
            _row_backward(gs[o:o + m], h[t * m:(t + 1) * m], gx[o:o + m], carry, p, mode, hard_reset,
                          detach_reset, surrogate_id)
    return acc


@njit(cache=True, parallel=True, error_model="numpy")
def _forward_threaded(x, s, T, p, mode, hard_reset):
    N = x.size // T
    for b in prange((N + _BLOCK - 1) // _BLOCK):
        _forward_block(x, s, T, N, b, p, mode, hard_reset)


@njit(cache=True, error_model="numpy")
def _forward_serial(x, s, T, p, mode, hard_reset):
    N = x.size // T
    for b in range((N + _BLOCK - 1) // _BLOCK):
        _forward_block(x, s, T, N, b, p, mode, hard_reset)


@njit(cache=True, parallel=True, error_model="numpy")
def _backward_threaded(gs, x, gx, gk_part, T, p, mode, hard_reset, detach_reset, surrogate_id):
    N = x.size // T
    for b in prange((N + _BLOCK - 1) // _BLOCK):
        gk_part[b] = _backward_block(gs, x, gx, T, N, b, p, mode, hard_reset, detach_reset, surrogate_id)


@njit(cache=True, error_model="numpy")
def _backward_serial(gs, x, gx, gk_part, T, p, mode, hard_reset, detach_reset, surrogate_id):
    N = x.size // T
    for b in range((N + _BLOCK - 1) // _BLOCK):
        gk_part[b] = _backward_block(gs, x, gx, T, N, b, p, mode, hard_reset, detach_reset, surrogate_id)


# Below ``PARALLEL_MIN`` elements the thread hand-off costs more than the loop (much more on a busy
# machine), so small layers run the serial loop.  A process forked after the threaded loop ran also
# runs serially: numba's OpenMP layer terminates a forked child that starts a parallel region.
PARALLEL_MIN = 1 << 16
_threaded_pid = None


def _threaded(size: int) -> bool:
    global _threaded_pid
    if size < PARALLEL_MIN:
        return False
    if _threaded_pid is None:
        _threaded_pid = os.getpid()
    return _threaded_pid == os.getpid()


def lif_forward(x: np.ndarray, s: np.ndarray, T: int, p: np.ndarray, mode: int, hard_reset: bool) -> None:
    """x: flat (T·N,) C-contiguous input; writes the spikes into s (same shape and dtype)."""
    fn = _forward_threaded if _threaded(x.size) else _forward_serial
    fn(x, s, T, p, mode, hard_reset)


def lif_backward(gs: np.ndarray, x: np.ndarray, gx: np.ndarray, gk_part: np.ndarray, T: int, p: np.ndarray,
                 mode: int, hard_reset: bool, detach_reset: bool, surrogate_id: int) -> None:
    """gs: flat (T·N,) gradient w.r.t. the spikes; x: the forward's input; writes gx (T·N,) and
    gk_part (n_blocks(N),) float64 partial sums of ∂L/∂q (PLIF modes only; before the sigmoid factor)."""
    fn = _backward_threaded if _threaded(x.size) else _backward_serial
    fn(gs, x, gx, gk_part, T, p, mode, hard_reset, detach_reset, surrogate_id)


def n_blocks(n: int) -> int:
    """Number of parallel neuron blocks for ``n`` neurons (size of ``gk_part``)."""
    return (n + _BLOCK - 1) // _BLOCK


def charge_mode(kind: int, decay_input: bool) -> int:
    """Charge mode for neuron ``kind`` (0 LIF, 1 PLIF, 2 IF) and ``decay_input``."""
    if kind == 2:
        return 4
    return 2 * kind + (0 if decay_input else 1)


def params(dtype: np.dtype, k: float, v_threshold: float, v_reset_value: float, alpha: float) -> np.ndarray:
    """Pack the scalar parameters in the input's float type (so arithmetic stays in that type)."""
    return np.array([k, v_threshold, v_reset_value, alpha, np.pi / 2 * alpha, alpha / 2,
                     alpha * alpha, 1.0], dtype=dtype)
