"""Scalar helpers written once in plain Python and compiled twice: for the CPU (``numba.njit``)
and, lazily, for the GPU (``numba.cuda.jit(device=True)``).

Only integer/float scalar arithmetic lives here, so the same source is valid for both targets and
the numpy reference can call the plain-Python versions.  Keeping one source is what makes the CPU,
GPU and reference point-cloud samplers draw the *same* random indices.

The random numbers are a counter-based generator (splitmix64): draw ``i`` of window ``w`` with seed
``s`` is ``splitmix64(window_state(s, w) + i * GOLDEN)``, a pure function of (s, w, i).  That makes
results independent of thread scheduling and identical across backends.
"""

from __future__ import annotations

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)


def splitmix64(z):
    """splitmix64 finaliser of a uint64 (wrapping arithmetic) -> uint64."""
    z = z + GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def window_state(seed, window):
    """Per-window generator state from a uint64 seed and a uint64 window index."""
    return splitmix64(splitmix64(seed) ^ (window * _M2))


def draw_below(state, i, n):
    """The ``i``-th draw of a window's stream, mapped to an int in [0, n) (n < 2**32), as uint64.

    Uses the high 32 bits times ``n`` >> 32 (Lemire's multiply-shift; bias < n / 2**32).
    """
    r = splitmix64(state + i * GOLDEN)
    return ((r >> _S32) * n) >> _S32


def search_left(a, lo, hi, v):
    """First index ``i`` in ``[lo, hi)`` with ``a[i] >= v`` (``hi`` if none); ``a`` sorted there.

    Same answer as ``lo + np.searchsorted(a[lo:hi], v, side='left')``.
    """
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def search_right(a, lo, hi, v):
    """First index ``i`` in ``[lo, hi)`` with ``a[i] > v`` (``hi`` if none); ``a`` sorted there."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def splitmix64_py(z: int) -> int:
    """Python-int version of :func:`splitmix64` (for the readable references)."""
    mask = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def window_state_py(seed: int, window: int) -> int:
    """Python-int version of :func:`window_state`."""
    mask = (1 << 64) - 1
    return splitmix64_py(splitmix64_py(seed & mask) ^ ((window * 0x94D049BB133111EB) & mask))


def draw_below_py(state: int, i: int, n: int) -> int:
    """Python-int version of :func:`draw_below`."""
    mask = (1 << 64) - 1
    r = splitmix64_py((state + i * 0x9E3779B97F4A7C15) & mask)
    return ((r >> 32) * n) >> 32
