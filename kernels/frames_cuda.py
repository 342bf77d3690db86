"""Event frames of a ragged batch on a CUDA GPU (numba.cuda): two launches, no global atomics.

The batch is B streams concatenated (columns t, x, y, p) plus offsets (B+1,); each stream is sorted
by t.  Slicing is fixed-T (``n_time_bins`` or ``n_event_bins``) with tonic ``ToFrame``'s arithmetic,
as :func:`eventar.kernels.frames.slice_bounds` computes it, so every stream's frames equal the CPU
kernel's exactly.

1. ``bounds`` – one thread per (stream, slice): the slice's event index range [start, end).
2. ``count`` – one thread block per (stream, slice, tile of the (P, H, W) plane); see
   :mod:`eventar.kernels._tiles`.  The block counts the slice's events that land in its tile with
   shared-memory atomics and writes the tile out once.  Each thread first loads the x, y, p of
   ``_tiles.UNROLL`` events (stride: the block size), then counts them: that many independent
   loads in flight per thread, where one load-then-atomic per step left the loop waiting on memory
   (H100, 1e8 events: 15 % of the copy bandwidth).

Counts are int32 (a pixel's count is at most its stream's length, < 2**31 events).  Events outside
the sensor raise :class:`EventValidationError` naming the first one (batch index).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from eventar.errors import EventValidationError

from . import _jit, _tiles
from ._arrays import empty_like_device, full_like_device, launch_1d, to_host, zeros_like_device
from .frames import check_slicing

cuda = None  # numba.cuda, bound on first GPU use (never at import time)

NO_BAD = int(np.iinfo(np.int64).max)


def bin_window(t0, t_last, n_events, k, n_bins, overlap, by_events):
    """Slice k of one stream for the fixed-T modes, as tonic computes it (scalar; both targets).

    Returns (lo, hi) as float64 time edges in µs (by_events=False, searched later) or event counts
    (by_events=True, already the indices relative to the stream start).
    """
    if by_events:
        count = int((n_events // n_bins) * (1.0 + overlap))
        stride = int(count * (1.0 - overlap))
        return float(k * stride), float(k * stride + count)
    window = float((t_last - t0) // n_bins) * (1.0 + overlap)
    stride = window * (1.0 - overlap)
    start = float(k) * stride + float(t0)
    return start, start + window


@functools.lru_cache(maxsize=None)
def _bounds_kernel():
    global cuda  # a module global: the CUDA simulator patches kernels' globals named like numba.cuda
    cuda = _jit.cuda_module()
    search_left = _jit.cuda_device_functions()[3]
    bin_window_dev = cuda.jit(device=True)(bin_window)

    @cuda.jit
    def bounds(t, offsets, n_bins, overlap, by_events, include_last, starts, ends):
        gid = cuda.grid(1)
        n_streams = offsets.shape[0] - 1
        if gid >= n_streams * n_bins:
            return
        b = gid // n_bins
        k = gid - b * n_bins
        lo = offsets[b]
        hi = offsets[b + 1]
        n = hi - lo
        if n == 0:
            starts[gid] = lo
            ends[gid] = lo
            return
        a, z = bin_window_dev(t[lo], t[hi - 1], n, k, n_bins, overlap, by_events)
        if by_events:
            s = lo + min(int(a), n)
            e = lo + min(int(z), n)
        else:
            s = search_left(t, lo, hi, a)
            e = search_left(t, lo, hi, z)
        if e < s:
            e = s
        if include_last and k == n_bins - 1:
            e = hi
        starts[gid] = s
        ends[gid] = e

    return bounds


def count_event(counts, xj, yj, on, j, w32, h32, hw, first32, size32, two_pol, report, bad):
    """Device helper: add event ``j`` at (xj, yj), polarity ``on``, to the block's tile ``counts``
    (counters ``first32 .. first32 + size32`` of the (P, H, W) plane), or, when ``report``,
    record it in ``bad`` if it lies outside the W x H sensor (int32 pixel arithmetic)."""
    if xj < 0 or xj >= w32 or yj < 0 or yj >= h32:
        if report:
            cuda.atomic.min(bad, 0, j)
        return
    idx = yj * w32 + xj - first32
    if two_pol and on:
        idx += hw
    if idx >= 0 and idx < size32:
        cuda.atomic.add(counts, idx, 1)


@functools.lru_cache(maxsize=None)
def _count_kernel(unroll: int):
    """The counting kernel with ``unroll`` events in flight per thread (a compile-time constant)."""
    global cuda
    cuda = _jit.cuda_module()
    count_event_dev = cuda.jit(device=True)(count_event)
    block_tile, load_events, zero_tile, store_tile = _tiles.device_helpers()

    @cuda.jit(**_tiles.kernel_options())
    def count(x, y, p, starts, ends, out, n_tiles, tile, plane, h, w, two_pol, bad):
        counts = cuda.shared.array(0, dtype=numba.int32)
        xs = cuda.local.array(unroll, dtype=numba.int32)
        ys = cuda.local.array(unroll, dtype=numba.int32)
        ons = cuda.local.array(unroll, dtype=numba.boolean)
        tid = cuda.threadIdx.x
        nthr = cuda.blockDim.x
        slc, first, size, first32, size32 = block_tile(cuda.blockIdx.x, n_tiles, tile, plane)  # slc: (stream, slice)
        zero_tile(counts, size, tid, nthr)
        cuda.syncthreads()
        w32 = np.int32(w)
        h32 = np.int32(h)
        hw = h32 * w32
        j = starts[slc] + tid
        e = ends[slc]
        while j < e:
            # all loads first, then the atomics: `unroll` independent loads per column in flight
            load_events(xs, ys, ons, x, y, p, j, nthr, e)
            for u in range(unroll):
                ju = j + u * nthr
                if ju < e:
                    count_event_dev(counts, xs[u], ys[u], ons[u], ju, w32, h32, hw, first32, size32, two_pol,
                                    first == 0, bad)
            j += unroll * nthr
        cuda.syncthreads()
        store_tile(counts, out, slc * plane + first, size, tid, nthr)

    return count


def to_frame_cuda_batch(t, x, y, p, offsets, sensor_size, *, n_time_bins=None, n_event_bins=None, overlap=0.0,
                        include_last=False, tile=0):
    """Frames of a ragged batch: (B, T, P, H, W) int32, tonic ToFrame semantics per stream.

    Args:
        t, x, y, p: (N_total,) columns of B streams concatenated (torch CUDA tensors, numba device
            arrays, or numpy arrays under the CUDA simulator); t in µs, each stream sorted by t.
        offsets: (B+1,) int64; stream b is ``[offsets[b], offsets[b+1])``.
        sensor_size: (W, H, P) with P in {1, 2} (channel = p > 0 when P == 2).
        n_time_bins / n_event_bins: exactly one (the same T for every stream); overlap, include_last
            as :func:`eventar.kernels.frames.slice_bounds`.
        tile: counters per shared-memory tile (0 = as large as the device allows; tests set it small).
    Returns:
        (B, T, P, H, W) int32, the same kind of array as ``t`` (on its device).
    """
    mode = check_slicing(None, None, n_time_bins, n_event_bins, overlap, include_last)
    bounds, count = _bounds_kernel(), _count_kernel(_tiles.UNROLL)
    n_bins = int(n_time_bins if mode == "n_time_bins" else n_event_bins)
    w, h, npol = (int(v) for v in sensor_size)
    n_streams = int(offsets.shape[0]) - 1
    plane = npol * h * w
    shape = (n_streams, n_bins, npol, h, w)
    if n_streams == 0 or int(x.shape[0]) == 0:
        return zeros_like_device(t, shape, "int32")
    starts = empty_like_device(t, (n_streams * n_bins,), "int64")
    ends = empty_like_device(t, (n_streams * n_bins,), "int64")
    blocks, threads = launch_1d(n_streams * n_bins)
    bounds[blocks, threads](t, offsets, n_bins, float(overlap), mode == "n_event_bins", bool(include_last),
                            starts, ends)
    out = empty_like_device(t, (n_streams * n_bins * plane,), "int32")
    bad = full_like_device(t, (1,), NO_BAD, "int64")
    _tiles.launch_tiled(count, n_streams * n_bins, plane, 4, tile,
                        lambda size, n_tiles: (x, y, p, starts, ends, out, n_tiles, size, plane, h, w, npol == 2, bad))
    first_bad = int(to_host(bad)[0])
    if first_bad != NO_BAD:
        raise EventValidationError(f"event {first_bad} of the batch: (x, y) is outside the {w}x{h} sensor")
    return out.reshape(shape)
