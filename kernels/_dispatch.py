"""The one place that decides which implementation runs: 'ref', 'numba' or 'cuda'.

Order of precedence:

1. the ``backend=`` argument of a public function;
2. the ``EVENTAR_KERNELS`` environment variable (``ref``, ``numba`` or ``cuda``);
3. the inputs: torch CUDA tensors -> ``cuda``; anything else -> ``numba``.

Asking for ``cuda`` where numba.cuda has no device (and the simulator is off) raises
:class:`~eventar.kernels.errors.KernelUnavailableError` instead of silently running elsewhere.
"""

from __future__ import annotations

import os

import numpy as np

from eventar.errors import ConfigError

from ._arrays import is_cuda_tensor

BACKENDS = ("ref", "numba", "cuda")


def choose(*arrays, backend: "str | None" = None) -> str:
    """Backend for a call on ``arrays`` (see the module docstring).

    Args:
        arrays: the call's array inputs (numpy arrays or torch tensors).
        backend: explicit choice, or None.
    Returns:
        'ref', 'numba' or 'cuda'.
    """
    forced = backend or os.environ.get("EVENTAR_KERNELS") or None
    if forced is not None:
        forced = forced.strip().lower()
        if forced not in BACKENDS:
            raise ConfigError(f"kernel backend {forced!r} (from backend= or EVENTAR_KERNELS); expected one of {BACKENDS}")
        if forced == "cuda":
            from ._jit import cuda_module

            cuda_module()  # raises KernelUnavailableError when there is no device / simulator
        return forced
    for a in arrays:
        if type(a) is not np.ndarray and is_cuda_tensor(a):
            return "cuda"
    return "numba"
