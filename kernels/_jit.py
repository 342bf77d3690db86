"""CPU (numba) builds of the shared scalar helpers, and lazy access to numba.cuda.

``numba.cuda`` is imported only by :func:`cuda_module`, i.e. only on the GPU path (or in tests
that run the CUDA simulator), never at ``import eventar.kernels`` time.
"""

from __future__ import annotations

import functools

import numba

from . import _scalar


def _rebind(fn, **names):
    """A copy of the plain-Python helper ``fn`` whose global names in ``names`` point to compiled
    versions (so a compiled helper calls compiled helpers, on either target)."""
    g = dict(_scalar.__dict__, **names)
    return type(fn)(fn.__code__, g, fn.__name__)


splitmix64 = numba.njit(cache=True)(_scalar.splitmix64)
window_state = numba.njit(cache=True)(_rebind(_scalar.window_state, splitmix64=splitmix64))
draw_below = numba.njit(cache=True)(_rebind(_scalar.draw_below, splitmix64=splitmix64))
search_left = numba.njit(cache=True)(_scalar.search_left)
search_right = numba.njit(cache=True)(_scalar.search_right)


def _numpy_aliases_for_numba_cuda() -> None:
    """Put back ``np.row_stack`` (a deprecated alias of ``np.vstack``, removed in numpy 2.5).

    numba-cuda 0.30 registers an overload for it while building its typing context, i.e. on the
    first kernel compilation, and with numpy >= 2.5 every compilation then fails with
    ``AttributeError: module 'numpy' has no attribute 'row_stack'`` (seen on an H100 machine with
    numba-cuda 0.30.4 and numpy 2.5.2).  Only added when missing; it is the same function.
    """
    import numpy as np

    if "row_stack" not in vars(np):
        np.row_stack = np.vstack


@functools.lru_cache(maxsize=None)
def cuda_module():
    """Import and return ``numba.cuda`` (raises :class:`KernelUnavailableError` without a GPU/simulator)."""
    from .errors import KernelUnavailableError

    _numpy_aliases_for_numba_cuda()
    try:
        from numba import cuda
    except Exception as exc:  # pragma: no cover - depends on the install
        raise KernelUnavailableError(f"numba.cuda cannot be imported: {exc}") from exc
    if not cuda.is_available():
        raise KernelUnavailableError(
            "no CUDA device is available to numba (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)"
        )
    return cuda


@functools.lru_cache(maxsize=None)
def cuda_device_functions():
    """The scalar helpers compiled as CUDA device functions: (splitmix64, window_state, draw_below,
    search_left, search_right)."""
    cuda = cuda_module()
    dev = cuda.jit(device=True)
    sm = dev(_scalar.splitmix64)
    ws = dev(_rebind(_scalar.window_state, splitmix64=sm))
    db = dev(_rebind(_scalar.draw_below, splitmix64=sm))
    return sm, ws, db, dev(_scalar.search_left), dev(_scalar.search_right)
