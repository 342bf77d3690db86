"""Numba-compiled multi-step LIF / PLIF / IF forward and backward loops (the CPU fast path).

Layout: the input is viewed as ``(T, N)`` (time first, every other axis flattened, C-contiguous).
Columns are split into blocks of ``_BLOCK`` neurons that run in parallel (``prange``); inside a
block the loop is ``for t: for n in block``, so the membrane of one block stays in L1 cache and the
inner loop is branch-free and vectorisable.  Arithmetic follows SpikingJelly 2.0's CPU reference
expression for expression (same operation order, all in the input's float type), so spikes match
it bit for bit.

Kinds (``kind``): 0 = LIF (divide by τ), 1 = parametric LIF (multiply by q = sigmoid(w)), 2 = IF.
Parameter vector ``p`` (input dtype, see :func:`params`):
``[tau_or_q, v_threshold, v_reset_value, alpha, π/2·α, α/2, α², 1]``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_BLOCK = 2048


@njit(cache=True, inline="always")
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


@njit(cache=True, parallel=True)
def _forward_impl(x, s, h, p, kind, decay_input, hard_reset, store_h):
    """x: (T, N) input; writes s: (T, N) spikes and (if store_h) h: (T, N) charged membrane."""
    T, N = x.shape
    k = p[0]
    vth = p[1]
    vr = p[2]
    one = p[7]
    nblocks = (N + _BLOCK - 1) // _BLOCK
    v_all = np.empty(N, dtype=x.dtype)
    for b in prange(nblocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, N)
        for n in range(lo, hi):
            v_all[n] = vr  # initial membrane: v_reset (hard) or 0 (soft, vr passed as 0)
        for t in range(T):
            for n in range(lo, hi):
                v = v_all[n]
                xt = x[t, n]
                if kind == 2:
                    hv = v + xt
                elif kind == 0:
                    if decay_input:
                        hv = v + (xt - (v - vr)) / k
                    else:
                        hv = v - (v - vr) / k + xt
                else:
                    if decay_input:
                        hv = v + (xt - (v - vr)) * k
                    else:
                        hv = v - (v - vr) * k + xt
                sp = one if hv >= vth else one * 0
                s[t, n] = sp
                if store_h:
                    h[t, n] = hv
                if hard_reset:
                    v_all[n] = sp * vr + (one - sp) * hv
                else:
                    v_all[n] = hv - sp * vth


@njit(cache=True, parallel=True)
def _backward_impl(gs, h, x, gx, gk_part, p, kind, decay_input, hard_reset, detach_reset,
                   surrogate_id):
    """Backward through time.

    gs: (T, N) gradient w.r.t. spikes; h: (T, N) saved charged membrane; x: (T, N) input (read
    only for the PLIF τ-gradient); writes gx: (T, N) and gk_part: (nblocks,) float64 partial sums of
    ∂L/∂q (PLIF only, before the sigmoid chain factor).
    """
    T, N = h.shape
    k = p[0]
    vth = p[1]
    vr = p[2]
    alpha = p[3]
    z_scale = p[4]
    half_alpha = p[5]
    alpha_sq = p[6]
    one = p[7]
    nblocks = (N + _BLOCK - 1) // _BLOCK
    carry_all = np.zeros(N, dtype=h.dtype)
    for b in prange(nblocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, N)
        acc = 0.0  # float64 accumulator for the PLIF τ-gradient
        for t in range(T - 1, -1, -1):
            for n in range(lo, hi):
                ht = h[t, n]
                sg = _sg(ht - vth, one, alpha, half_alpha, alpha_sq, z_scale, surrogate_id)
                if hard_reset:
                    rg = one - (one if ht >= vth else one * 0)
                    if not detach_reset:
                        rg = rg + (vr - ht) * sg
                else:
                    rg = one if detach_reset else one - vth * sg
                gh = gs[t, n] * sg + carry_all[n] * rg
                if kind == 2:
                    gx[t, n] = gh
                    carry_all[n] = gh
                elif kind == 0:
                    gx[t, n] = gh / k if decay_input else gh
                    carry_all[n] = gh - gh / k
                else:
                    gx[t, n] = gh * k if decay_input else gh
                    carry_all[n] = gh - gh * k
                    # membrane before step t (after the reset of step t-1)
                    if t > 0:
                        hp = h[t - 1, n]
                        spp = one if hp >= vth else one * 0
                        prev = spp * vr + (one - spp) * hp if hard_reset else hp - spp * vth
                    else:
                        prev = vr
                    if decay_input:
                        acc += gh * (x[t, n] - (prev - vr))
                    else:
                        acc += gh * (-(prev - vr))
        gk_part[b] = acc


# Below ``PARALLEL_MIN`` elements the thread hand-off costs more than the loop (much more on a busy
# machine), so small layers run the same compiled loop on the calling thread only.
PARALLEL_MIN = 1 << 16


def _call(fn, size, *args):
    if size >= PARALLEL_MIN:
        fn(*args)
        return
    prev = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        fn(*args)
    finally:
        numba.set_num_threads(prev)


def lif_forward(x, s, h, p, kind, decay_input, hard_reset, store_h):
    """Forward loop (see :func:`_forward_impl`), threaded when ``x`` has >= PARALLEL_MIN elements."""
    _call(_forward_impl, x.size, x, s, h, p, kind, decay_input, hard_reset, store_h)


def lif_backward(gs, h, x, gx, gk_part, p, kind, decay_input, hard_reset, detach_reset, surrogate_id):
    """Backward loop (see :func:`_backward_impl`), threaded when ``h`` has >= PARALLEL_MIN elements."""
    _call(_backward_impl, h.size, gs, h, x, gx, gk_part, p, kind, decay_input, hard_reset, detach_reset,
          surrogate_id)


def n_blocks(n: int) -> int:
    """Number of parallel column blocks for ``n`` neurons (size of ``gk_part``)."""
    return (n + _BLOCK - 1) // _BLOCK


def params(dtype: np.dtype, k: float, v_threshold: float, v_reset_value: float, alpha: float) -> np.ndarray:
    """Pack the scalar parameters in the input's float type (so arithmetic stays in that type)."""
    return np.array([k, v_threshold, v_reset_value, alpha, np.pi / 2 * alpha, alpha / 2,
                     alpha * alpha, 1.0], dtype=dtype)
