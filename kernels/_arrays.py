"""Array plumbing for the CUDA launchers: allocate on the inputs' device, copy back to the host.

Inputs to the CUDA kernels may be torch CUDA tensors (passed to numba through
``__cuda_array_interface__``, no copy), numba device arrays, or numpy arrays (the CUDA simulator,
or a real GPU with implicit transfers).  Outputs are allocated with the same kind as the input.
"""

from __future__ import annotations

import numpy as np

from . import _jit


def is_torch(a) -> bool:
    """True for a ``torch.Tensor`` (checked without importing torch)."""
    return type(a).__module__.startswith("torch")


def is_cuda_tensor(a) -> bool:
    """True for a torch tensor living on a CUDA device."""
    return is_torch(a) and a.device.type == "cuda"


def full_like_device(like, shape, value, dtype: str):
    """An array of ``shape`` filled with ``value`` (numpy dtype name) of the same kind/device as ``like``."""
    if is_torch(like):
        import torch

        return torch.full(shape, value, dtype=getattr(torch, dtype), device=like.device)
    if isinstance(like, np.ndarray):
        return np.full(shape, value, dtype=dtype)
    return _jit.cuda_module().to_device(np.full(shape, value, dtype=dtype))


def empty_like_device(like, shape, dtype: str):
    """An uninitialised array of ``shape`` of the same kind/device as ``like``, for outputs a kernel
    writes completely.  The numpy version (the CUDA simulator) is filled with a poison value (NaN,
    or the dtype's minimum) so that a test sees any element the kernel failed to write."""
    if is_torch(like):
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype), device=like.device)
    if isinstance(like, np.ndarray):
        dt = np.dtype(dtype)
        return np.full(shape, np.nan if dt.kind == "f" else np.iinfo(dt).min, dtype=dt)
    return _jit.cuda_module().device_array(shape, dtype=dtype)


def zeros_like_device(like, shape, dtype: str):
    """Zeros of ``shape`` (numpy dtype name) of the same kind/device as ``like``."""
    return full_like_device(like, shape, 0, dtype)


def to_host(a) -> np.ndarray:
    """Copy a torch tensor / numba device array / numpy array to numpy."""
    if isinstance(a, np.ndarray):
        return a
    if is_torch(a):
        return a.detach().cpu().numpy()
    return a.copy_to_host()


def to_host_all(*arrays) -> tuple:
    """:func:`to_host` of each argument, as a tuple; numpy arrays pass through without a call per
    array (the CPU kernels' entry points run this on every call, often with cold caches)."""
    if all(type(a) is np.ndarray for a in arrays):
        return arrays
    return tuple(to_host(a) for a in arrays)


def launch_1d(n: int, threads: int = 256, max_blocks: int = 4 * 65535):
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    return max(1, min((n + threads - 1) // threads, max_blocks)), threads
