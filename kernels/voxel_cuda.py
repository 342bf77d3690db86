"""Voxel grids of a ragged batch on a CUDA GPU (numba.cuda): two launches, no global atomics.

Semantics are :mod:`eventar.kernels.voxel`'s (tonic ``ToVoxelGrid`` with the fixed polarity), per
stream: ``ts = T·(t − t0)/(t_last − t0)`` in float64 exactly as the CPU kernel computes it, weight
``1 − frac(ts)`` to bin ``floor(ts)`` and ``frac(ts)`` to the next bin, bins ``>= T`` dropped.

Because each stream is sorted by t, the events whose ``floor(ts)`` is k form one index range:

1. ``edges`` – one thread per (stream, k ≤ T): the first event of the stream with bin ≥ k
   (binary search on the same float64 formula).
2. ``accumulate`` – one thread block per (stream, bin k, tile of the (C, H, W) plane)
   (:mod:`eventar.kernels._tiles`): the right weights of bin k−1's events and the left weights of
   bin k's events (one index range of the sorted stream) go into a float64 tile in shared memory,
   which is then written out once.  Like the frame kernel, each thread loads ``_tiles.UNROLL``
   events before it adds them.  (On sm_90 a float64 shared-memory atomic add is a compare-and-swap
   loop; 32-bit integer adds are the only native shared atomics.)

Results equal the CPU kernel's up to the order of float64 additions (relative ~1e-16).  A stream
that is not sorted by t, or an event outside the sensor, raises :class:`EventValidationError`
naming the first such event (batch index).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from eventar.errors import EventValidationError

from . import _jit, _tiles
from ._arrays import empty_like_device, full_like_device, launch_1d, to_host, zeros_like_device
from .voxel import _check

cuda = None  # numba.cuda, bound on first GPU use (never at import time)
bin_dev = None  # voxel_bin as a CUDA device function, likewise

NO_BAD = int(np.iinfo(np.int64).max)


def voxel_bin(tj, t0, duration, n_bins):
    """(ts, floor(ts)) of one event: ts = n_bins·(t − t0)/duration in float64 (0 when duration is 0);
    the bin is −1 for ts < 0 (an event before the stream's first).  Scalar; both targets."""
    ts = 0.0
    if duration != 0.0:
        ts = (n_bins * (float(tj) - t0)) / duration
    if ts < 0.0:
        return ts, -1
    return ts, int(ts)


@functools.lru_cache(maxsize=None)
def _bind_device_globals() -> None:
    """Bind :data:`cuda` and :data:`bin_dev` (module globals: the CUDA simulator patches kernels'
    globals named like numba.cuda, and device helpers find ``bin_dev`` there)."""
    global cuda, bin_dev
    cuda = _jit.cuda_module()
    bin_dev = cuda.jit(device=True)(voxel_bin)


@functools.lru_cache(maxsize=None)
def _edges_kernel():
    _bind_device_globals()

    @cuda.jit
    def edges(t, offsets, n_bins, first_of_bin):
        gid = cuda.grid(1)
        n_streams = offsets.shape[0] - 1
        if gid >= n_streams * (n_bins + 1):
            return
        b = gid // (n_bins + 1)
        k = gid - b * (n_bins + 1)
        lo = offsets[b]
        hi = offsets[b + 1]
        if hi > lo:
            t0 = float(t[lo])
            duration = float(t[hi - 1] - t[lo])
            while lo < hi:
                mid = (lo + hi) >> 1
                _, bm = bin_dev(t[mid], t0, duration, n_bins)
                if bm < k:
                    lo = mid + 1
                else:
                    hi = mid
        first_of_bin[gid] = lo

    return edges


def add_event(acc, tj, xj, yj, on, j, k, right, t0, duration, n_bins, w32, h32, hw, first32, size32, per_polarity,
              report, first_bad):
    """Device helper: event ``j`` (t ``tj`` µs, pixel (xj, yj), polarity ``on``) adds its weight for
    bin ``k`` to the block's float64 tile ``acc``: ``1 − frac(ts)`` when its own bin is k, ``frac(ts)``
    when it is k − 1 (``right``), exactly as the CPU kernel computes them.  With ``report`` it
    records in ``first_bad`` (2,) the first event outside the sensor (slot 0) and the first whose
    bin is not the expected one, i.e. the stream is not sorted (slot 1)."""
    if xj < 0 or xj >= w32 or yj < 0 or yj >= h32:
        if report and not right:
            cuda.atomic.min(first_bad, 0, j)
        return
    ts, ti = bin_dev(tj, t0, duration, n_bins)
    if report and ti != (k - 1 if right else k):
        cuda.atomic.min(first_bad, 1, j)
    dt = ts - ti
    weight = dt if right else 1.0 - dt
    idx = yj * w32 + xj - first32
    if per_polarity:
        if on:
            idx += hw
    elif not on:
        weight = -weight
    if idx >= 0 and idx < size32:
        cuda.atomic.add(acc, idx, weight)


@functools.lru_cache(maxsize=None)
def _accumulate_kernel(unroll: int):
    """The accumulation kernel with ``unroll`` events in flight per thread (a compile-time constant)."""
    _bind_device_globals()
    add_event_dev = cuda.jit(device=True)(add_event)
    block_tile, load_events, zero_tile, store_tile = _tiles.device_helpers()

    @cuda.jit(**_tiles.kernel_options())
    def accumulate(t, x, y, p, offsets, first_of_bin, out, n_bins, n_tiles, tile, plane, h, w,
                   per_polarity, first_bad):
        acc = cuda.shared.array(0, dtype=numba.float64)
        ts_ = cuda.local.array(unroll, dtype=numba.int64)
        xs = cuda.local.array(unroll, dtype=numba.int32)
        ys = cuda.local.array(unroll, dtype=numba.int32)
        ons = cuda.local.array(unroll, dtype=numba.boolean)
        tid = cuda.threadIdx.x
        nthr = cuda.blockDim.x
        slc, first, size, first32, size32 = block_tile(cuda.blockIdx.x, n_tiles, tile, plane)  # slc: (stream, bin)
        b = slc // n_bins
        k = slc - b * n_bins
        zero_tile(acc, size, tid, nthr)
        cuda.syncthreads()
        lo = offsets[b]
        hi = offsets[b + 1]
        e0 = b * (n_bins + 1)
        w32 = np.int32(w)
        h32 = np.int32(h)
        hw = h32 * w32
        report = first == 0  # one block per (stream, bin) reports errors
        if hi > lo:
            t0 = float(t[lo])
            duration = float(t[hi - 1] - t[lo])
            # bin k's weight comes from the events of bins k - 1 (right weights) and k (left
            # weights): one index range of the time-sorted stream, split at `mid`
            mid = first_of_bin[e0 + k]
            j = (first_of_bin[e0 + k - 1] if k > 0 else mid) + tid
            end = first_of_bin[e0 + k + 1]
            while j < end:
                load_events(xs, ys, ons, x, y, p, j, nthr, end)  # all loads first
                for u in range(unroll):  # and the times, clamped the same way
                    ju = j + u * nthr
                    ts_[u] = t[ju if ju < end else end - 1]
                for u in range(unroll):
                    ju = j + u * nthr
                    if ju < end:
                        add_event_dev(acc, ts_[u], xs[u], ys[u], ons[u], ju, k, ju < mid, t0, duration, n_bins,
                                      w32, h32, hw, first32, size32, per_polarity, report, first_bad)
                j += unroll * nthr
            if k == n_bins - 1 and report:
                # the stream's head (bin < 0) must be empty and its tail (bin >= T) only hold
                # bins >= T; both are checked once, by one block per stream
                if tid == 0 and first_of_bin[e0] != lo:
                    cuda.atomic.min(first_bad, 1, lo)
                j = first_of_bin[e0 + n_bins] + tid
                while j < hi:
                    xj = np.int32(x[j])
                    yj = np.int32(y[j])
                    if xj < 0 or xj >= w32 or yj < 0 or yj >= h32:
                        cuda.atomic.min(first_bad, 0, j)
                    _, ti = bin_dev(t[j], t0, duration, n_bins)
                    if ti < n_bins:
                        cuda.atomic.min(first_bad, 1, j)
                    j += nthr
        cuda.syncthreads()
        store_tile(acc, out, slc * plane + first, size, tid, nthr)

    return accumulate


def to_voxel_cuda_batch(t, x, y, p, offsets, sensor_size, n_time_bins, per_polarity=False, tile=0):
    """Voxel grids of a ragged batch: (B, T, C, H, W) float64, C = 2 if per_polarity else 1.

    Args:
        t, x, y, p: (N_total,) columns of B streams concatenated (torch CUDA tensors, numba device
            arrays, or numpy under the CUDA simulator); t in µs, each stream sorted by t.
        offsets: (B+1,) int64 stream boundaries.
        sensor_size: (W, H, P).  n_time_bins: T.  per_polarity: two unsigned channels (p > 0).
        tile: counters per shared-memory tile (0 = as large as the device allows; tests set it small).
    Returns:
        (B, T, C, H, W) float64 of the same kind as ``t``; equal per stream to
        :func:`eventar.kernels.voxel.to_voxel_ref` up to the order of float64 additions.
    """
    _check(n_time_bins)
    n_bins = int(n_time_bins)
    w, h = int(sensor_size[0]), int(sensor_size[1])
    n_streams = int(offsets.shape[0]) - 1
    c = 2 if per_polarity else 1
    plane = c * h * w
    shape = (n_streams, n_bins, c, h, w)
    if n_streams == 0 or int(t.shape[0]) == 0:
        return zeros_like_device(t, shape, "float64")
    edges, accumulate = _edges_kernel(), _accumulate_kernel(_tiles.UNROLL)
    first_of_bin = empty_like_device(t, (n_streams * (n_bins + 1),), "int64")
    blocks, threads = launch_1d(n_streams * (n_bins + 1))
    edges[blocks, threads](t, offsets, n_bins, first_of_bin)
    out = empty_like_device(t, (n_streams * n_bins * plane,), "float64")
    first_bad = full_like_device(t, (2,), NO_BAD, "int64")  # (outside the sensor, out of time order)
    _tiles.launch_tiled(accumulate, n_streams * n_bins, plane, 8, tile,
                        lambda size, n_tiles: (t, x, y, p, offsets, first_of_bin, out, n_bins, n_tiles, size, plane,
                                               h, w, bool(per_polarity), first_bad))
    outside, first_unsorted = (int(v) for v in to_host(first_bad))  # one device-to-host copy
    if outside != NO_BAD:
        raise EventValidationError(f"event {outside} of the batch: (x, y) is outside the {w}x{h} sensor")
    if first_unsorted != NO_BAD:
        raise EventValidationError(f"event {first_unsorted} of the batch: its stream is not sorted by t "
                                   "(the GPU voxel grid needs each stream in time order)")
    return out.reshape(shape)
