"""Shared-memory tiles for the CUDA histogram kernels (frames and voxel grids of a ragged batch).

A tiled kernel runs one thread block per (stream, time bin, tile), where a tile is a contiguous
range of the flattened (C, H, W) plane held in dynamic shared memory.  The block zeroes its tile,
accumulates its bin's events into it with shared-memory atomics and writes the tile out once,
coalesced.  Global memory then sees no atomics and no zeroing pass, and every output element is
written exactly once.

The larger the tile, the fewer times a bin's events are read (once per tile).  A block may use
48 KiB of dynamic shared memory without asking; more (up to the device's opt-in limit, 227 KiB on
an H100) needs ``cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)`` on the compiled kernel, which
:func:`launch` does when the tile needs it, through the CUDA driver bindings numba-cuda itself uses.
If that is not possible the tile is capped at 48 KiB and the plane split into more tiles.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Tuple

import numpy as np

DEFAULT_SMEM = 48 * 1024
LIMIT = 0  # bytes of shared memory per tile; 0 = the device's opt-in limit (benchmarks compare)

_OPTED_IN: Dict[int, int] = {}  # id(dispatcher) -> dynamic shared bytes granted


def simulator() -> bool:
    """True when numba runs CUDA kernels in its CPU simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


THREADS = 1024  # per block on a GPU (benchmarks/bench_representations_gpu.py compares others)
UNROLL = 4  # events whose loads each thread issues before it counts them (likewise compared there)
# 65536 registers per block / 1024 threads: a tiled kernel compiled within this always launches
# with THREADS = 1024; at UNROLL = 4 neither kernel spills (benchmarks/cuda_resources.py)
MAX_REGISTERS = 64


def threads_per_block() -> int:
    """:data:`THREADS` on a GPU; 32 in the simulator, which runs every thread of a block as a Python thread."""
    return 32 if simulator() else THREADS


def kernel_options() -> dict:
    """``cuda.jit`` options of the tiled kernels: at most :data:`MAX_REGISTERS` per thread on a GPU
    (the simulator takes no register limit)."""
    return {} if simulator() else {"max_registers": MAX_REGISTERS}


def optin_limit() -> int:
    """Most dynamic shared memory (bytes) a block can be granted on the current device."""
    if simulator():
        return DEFAULT_SMEM
    from . import _jit

    dev = _jit.cuda_module().get_current_device()
    return int(getattr(dev, "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN", DEFAULT_SMEM))


def plan(plane: int, itemsize: int, tile: int = 0, limit: int = 0) -> Tuple[int, int]:
    """(counters per tile, number of tiles) for a plane of ``plane`` counters of ``itemsize`` bytes.

    ``tile`` forces a tile size (tests use it to exercise several tiles on small sensors);
    otherwise the largest tile within ``limit`` bytes (default: the device's opt-in limit).
    """
    if tile <= 0:
        tile = max(1, (limit or LIMIT or optin_limit()) // itemsize)
    tile = max(1, min(tile, plane))
    return tile, -(-plane // tile)


def _raise_dynamic_limit(dispatcher, args, nbytes: int) -> bool:
    """Let ``dispatcher``'s kernel for ``args`` use ``nbytes`` of dynamic shared memory."""
    key = id(dispatcher)
    if _OPTED_IN.get(key, DEFAULT_SMEM) >= nbytes:
        return True
    try:
        argtypes = tuple(dispatcher.typeof_pyval(a) for a in args)
        kernel = dispatcher.compile(argtypes)
        func = kernel._codelibrary.get_cufunc()
        handle = func.handle
        from cuda.bindings import driver as cu

        attr = cu.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        errs = []
        if isinstance(handle, cu.CUkernel):  # numba-cuda >= 0.2x loads kernels through cuLibrary
            _, dev = cu.cuCtxGetDevice()
            errs.append(cu.cuKernelSetAttribute(attr, nbytes, handle, dev)[0])
            _, handle = cu.cuKernelGetFunction(handle)  # this context's CUfunction
        errs.append(cu.cuFuncSetAttribute(handle, attr, nbytes)[0])
        ok = any(int(e) == 0 for e in errs)
    except Exception:  # pragma: no cover - depends on the numba-cuda version
        ok = False
    if ok:
        _OPTED_IN[key] = nbytes
    return ok


def launch(dispatcher, n_blocks: int, threads: int, smem_bytes: int, args) -> bool:
    """Launch ``dispatcher[n_blocks, threads, 0, smem_bytes](*args)``.

    Returns False (and launches nothing) when ``smem_bytes`` exceeds 48 KiB and the kernel could
    not be allowed that much; the caller then re-plans with 48 KiB tiles.
    """
    if smem_bytes > DEFAULT_SMEM and not simulator() and not _raise_dynamic_limit(dispatcher, args, smem_bytes):
        return False
    dispatcher[n_blocks, threads, 0, smem_bytes](*args)
    return True


def launch_tiled(dispatcher, n_slices: int, plane: int, itemsize: int, tile: int,
                 args_for: Callable[[int, int], tuple]) -> None:
    """Launch one block per (slice, tile): tiles as large as the device grants, else 48 KiB.

    ``args_for(counters_per_tile, n_tiles)`` builds the kernel's arguments; ``tile`` as :func:`plan`.
    """
    for limit in (0, DEFAULT_SMEM):  # a 48 KiB plan always launches
        size, n_tiles = plan(plane, itemsize, tile, limit)
        if launch(dispatcher, n_slices * n_tiles, threads_per_block(), itemsize * size, args_for(size, n_tiles)):
            return


@functools.lru_cache(maxsize=None)
def device_helpers():
    """(block_tile, load_events, zero_tile, store_tile) compiled as CUDA device functions."""
    from . import _jit

    dev = _jit.cuda_module().jit(device=True)
    return dev(block_tile), dev(load_events), dev(zero_tile), dev(store_tile)


def block_tile(blk, n_tiles, tile, plane):
    """Device helper: (slice, first counter, counters) of block ``blk``, with blocks ordered slice
    by slice and ``n_tiles`` tiles of ``tile`` counters covering a ``plane`` (the last one short);
    then the int32 pixel constants (first, counters): 64-bit integer multiplies are several
    instructions on a GPU."""
    slc = blk // n_tiles
    first = (blk - slc * n_tiles) * tile
    size = plane - first if plane - first < tile else tile
    return slc, first, size, np.int32(first), np.int32(size)


def load_events(xs, ys, ons, x, y, p, j, stride, end):
    """Device helper: events ``j, j + stride, ...`` (as many as ``xs`` holds) into the thread's
    registers: ``xs``/``ys`` int32 pixel, ``ons`` polarity ``p > 0``.  Indices at or past ``end``
    load event ``end - 1`` instead (in range; the caller counts only the events below ``end``), so
    every load is issued before the first event is counted."""
    for u in range(xs.shape[0]):
        ju = j + u * stride
        if ju >= end:
            ju = end - 1
        xs[u] = x[ju]
        ys[u] = y[ju]
        ons[u] = p[ju] > 0


def zero_tile(buf, size, tid, nthr):
    """Device helper: ``buf[:size] = 0`` by the block's ``nthr`` threads (thread ``tid``'s share)."""
    i = tid
    while i < size:
        buf[i] = 0
        i += nthr


def store_tile(buf, out, base, size, tid, nthr):
    """Device helper: ``out[base:base + size] = buf[:size]``, coalesced across the block's threads."""
    i = tid
    while i < size:
        out[base + i] = buf[i]
        i += nthr
