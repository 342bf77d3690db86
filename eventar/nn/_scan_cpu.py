"""Numba kernels of the fast CPU selective scan (:func:`eventar.nn.scan.selective_scan_cpu`).

Layout: u, delta (B, D, L); A (D, N); Bg, Cg (B, G, L, N) (channel d reads group d // (D // G)).
Each work item (``prange``) owns one batch row b and one of ``nch`` chunks of channels, and per
channel computes all exp(Δ_t·A[d, n]) of the row at once with a branch-free polynomial exp that
LLVM vectorises (numba's scalar exp, without Intel SVML, dominated the run time): Cody-Waite
reduction x = k·ln2 + r, degree-11 Taylor polynomial of e^r, 2^k written into the exponent bits;
inputs below ``lo`` give 0, above ``hi`` inf, NaN stays NaN.  The backward recomputes each row's
states (memory O(L·N) per work item) and accumulates dB/dC per channel chunk (no races).
Constants arrive as arrays in the compute dtype (:func:`exp_constants`) so float32 stays float32.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
from numba import njit, prange

fm = {"contract", "reassoc", "arcp"}  # lets LLVM vectorise; keeps NaN/inf semantics


def exp_constants(dtype) -> Tuple[np.ndarray, np.ndarray]:
    """Constants of the vectorisable exp (:func:`exp_row`) in ``dtype``: float ones
    [lo, hi, log2(e), 1/2, ln2_hi, ln2_lo, inf, 0, 1/0!, ..., 1/11!] and int ones [bias, mantissa bits]."""
    if np.dtype(dtype) == np.float32:
        head = [-87.0, 88.0, 1.4426950408889634, 0.5, 0.693359375, -2.12194440e-4]
        ints = np.array([127, 23], dtype=np.int32)
    else:
        head = [-708.0, 709.0, 1.4426950408889634, 0.5, 6.93147180369123816490e-01, 1.90821492927058770002e-10]
        ints = np.array([1023, 52], dtype=np.int64)
    coef = [1.0 / math.factorial(k) for k in range(12)]
    return np.array(head + [np.inf, 0.0] + coef, dtype=dtype), ints


@njit(cache=True, fastmath=fm, inline="always")
def exp_row(delta_row, a_row, X, P, KB, KF, cf, ci):  # pragma: no cover - compiled
    # X[t·N + n] = exp(delta_row[t] · a_row[n]) for the whole row, via P / KB (KF = KB as floats)
    nl = delta_row.shape[0]
    ns = a_row.shape[0]
    for t in range(nl):
        dt = delta_row[t]
        for n in range(ns):
            X[t * ns + n] = dt * a_row[n]
    lo, hi, l2e, half, ln2h, ln2l = cf[0], cf[1], cf[2], cf[3], cf[4], cf[5]
    bias, mbits = ci[0], ci[1]
    m = nl * ns
    for i in range(m):
        x = min(max(X[i], lo), hi)
        k = np.floor(x * l2e + half)
        r = (x - k * ln2h) - k * ln2l
        p = cf[19]
        p = p * r + cf[18]
        p = p * r + cf[17]
        p = p * r + cf[16]
        p = p * r + cf[15]
        p = p * r + cf[14]
        p = p * r + cf[13]
        p = p * r + cf[12]
        p = p * r + cf[11]
        p = p * r + cf[10]
        p = p * r + cf[9]
        p = p * r + cf[8]
        P[i] = p
        KB[i] = (KB.dtype.type(k) + bias) << mbits
    for i in range(m):
        x = X[i]
        e = P[i] * KF[i]
        e = cf[7] if x < lo else e
        e = cf[6] if x > hi else e
        X[i] = x if x != x else e

@njit(parallel=True, cache=True, fastmath=fm)
def fwd(u, delta, A, Bg, Cg, y, last, nch, cf, ci):  # pragma: no cover - compiled
    nb, nd, nl = u.shape
    ng = Bg.shape[1]
    ns = A.shape[1]
    per = nd // ng
    chunk = (nd + nch - 1) // nch
    for w in prange(nb * nch):
        b = w // nch
        c = w % nch
        E = np.empty(nl * ns, dtype=u.dtype)
        P = np.empty(nl * ns, dtype=u.dtype)
        KB = np.empty(nl * ns, dtype=ci.dtype)
        KF = KB.view(u.dtype)
        h = np.zeros(ns, dtype=u.dtype)
        zero = h[0]  # a zero of the compute dtype (keeps float32 rows in float32)
        for d in range(c * chunk, min(nd, (c + 1) * chunk)):
            g = d // per
            exp_row(delta[b, d], A[d], E, P, KB, KF, cf, ci)
            for n in range(ns):
                h[n] = zero
            for t in range(nl):
                x = delta[b, d, t] * u[b, d, t]
                acc = zero
                for n in range(ns):
                    hn = E[t * ns + n] * h[n] + x * Bg[b, g, t, n]
                    h[n] = hn
                    acc += hn * Cg[b, g, t, n]
                y[b, d, t] = acc
            for n in range(ns):
                last[b, d, n] = h[n]

@njit(parallel=True, cache=True, fastmath=fm)
def bwd(u, delta, A, Bg, Cg, dy, dlast, du, ddelta, dA_part, dB_part, dC_part, nch, cf, ci):  # pragma: no cover
    nb, nd, nl = u.shape
    ng = Bg.shape[1]
    ns = A.shape[1]
    per = nd // ng
    chunk = (nd + nch - 1) // nch
    for w in prange(nb * nch):
        b = w // nch
        c = w % nch
        hist = np.empty((nl + 1, ns), dtype=u.dtype)  # hist[t + 1] = h_t, hist[0] = 0
        E = np.empty(nl * ns, dtype=u.dtype)  # exp(Δ_t A), flat (t, n)
        P = np.empty(nl * ns, dtype=u.dtype)
        KB = np.empty(nl * ns, dtype=ci.dtype)
        KF = KB.view(u.dtype)
        dh = np.zeros(ns, dtype=u.dtype)
        dAl = np.zeros(ns, dtype=u.dtype)  # this channel's dA, accumulated over t
        zero = dh[0]  # a zero of the compute dtype
        for d in range(c * chunk, min(nd, (c + 1) * chunk)):
            g = d // per
            exp_row(delta[b, d], A[d], E, P, KB, KF, cf, ci)
            for n in range(ns):
                hist[0, n] = zero
            for t in range(nl):  # recompute the states of this row
                x = delta[b, d, t] * u[b, d, t]
                for n in range(ns):
                    hist[t + 1, n] = E[t * ns + n] * hist[t, n] + x * Bg[b, g, t, n]
            for n in range(ns):
                dh[n] = dlast[b, d, n]
                dAl[n] = zero
            Bt, Ct = Bg[b, g], Cg[b, g]  # (L, N) views of this row's group
            dBt, dCt = dB_part[b, c, g], dC_part[b, c, g]
            for t in range(nl - 1, -1, -1):
                dt = delta[b, d, t]
                ut = u[b, d, t]
                gy = dy[b, d, t]
                dtu = dt * ut
                dut = zero
                ddt = zero
                for n in range(ns):
                    e = E[t * ns + n]
                    dCt[t, n] += gy * hist[t + 1, n]
                    dhn = dh[n] + gy * Ct[t, n]
                    bb = Bt[t, n]
                    dBt[t, n] += dhn * dtu
                    dhb = dhn * bb
                    dut += dhb
                    pa = dhn * hist[t, n] * e  # d/d(Δ·A) of the decay term
                    ddt += dhb * ut + pa * A[d, n]
                    dAl[n] += pa * dt
                    dh[n] = dhn * e
                du[b, d, t] = dut * dt
                ddelta[b, d, t] = ddt
            for n in range(ns):
                dA_part[b, d, n] = dAl[n]
