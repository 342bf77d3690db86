"""SpikePoint point clouds: sliding windows over each stream, N points sampled per window.

Semantics (SpikePoint / its authors' EventMamba preprocessing, see docs/representations.md):

* **windows** of ``window_us`` every ``step_us`` starting at the stream's first event ``t0``; window
  k covers ``t0 + k*step <= t < t0 + k*step + window`` and exists while
  ``t0 + k*step + window < t_last``; a non-empty stream shorter than one window gets one window
  starting at ``t0`` (SpikePoint's scripts would drop the recording; we keep every recording so
  per-recording accuracy is defined for all of them);
* windows holding fewer than ``min_events`` events are dropped;
* **sampling**: when a window has ``>= n_points`` events, ``n_points`` distinct events drawn
  uniformly without replacement; otherwise ``n_points`` draws with replacement; either way the
  points are kept in time order;
* **coordinates** (x / W, y / H, (t - t_min) / (t_max - t_min)) with t_min / t_max over the
  sampled points (0 when they coincide); float32; polarity is dropped;
* only the events a window reads are checked: a sampled event outside the sensor raises
  :class:`EventValidationError` naming the first one (CPU paths; the GPU kernel does not check).

Randomness is a counter-based generator (:mod:`eventar.kernels._scalar`): window ``w`` of a call
uses ``window_state(seed, w)``, so results depend only on (seed, window order), are independent of
threads, and are identical for the reference, the numba CPU kernel and the CUDA kernel.

Everything is vectorised over all windows of all streams of a (ragged) batch: window bounds come
from one binary search per window edge, sampling is one compiled loop over windows.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np

from eventar.errors import ConfigError, EventValidationError

from . import _jit, _scalar
from ._arrays import launch_1d, to_host, zeros_like_device

cuda = None  # numba.cuda, bound on first GPU use (never at import time)


class Windows(NamedTuple):
    """Windows kept after the ``min_events`` filter (all (n_windows,) int64).

    Attributes:
        start: first event index (into the concatenated stream).
        end: one past the last event index.
        recording: index of the stream each window belongs to (for per-recording voting).
        t_start: window start time in µs.
    """

    start: np.ndarray
    end: np.ndarray
    recording: np.ndarray
    t_start: np.ndarray


def check_params(window_us, step_us, n_points, min_events):
    """Raise :class:`ConfigError` for a non-positive window / step / n_points or negative min_events."""
    for name, v in (("window_us", window_us), ("step_us", step_us), ("n_points", n_points)):
        if not v > 0:
            raise ConfigError(f"point cloud: {name} = {v!r}, expected > 0")
    if min_events < 0:
        raise ConfigError(f"point cloud: min_events = {min_events!r}, expected >= 0")


@numba.njit(cache=True)
def _window_bounds(t, lo, hi, t_start, window_us, starts, ends):
    for w in range(t_start.shape[0]):
        starts[w] = _jit.search_left(t, lo[w], hi[w], t_start[w])
        ends[w] = _jit.search_left(t, starts[w], hi[w], t_start[w] + window_us)


def window_starts(first_t, last_t, offsets, window_us: int, step_us: int):
    """Window start times of every stream, vectorised: (t_start, recording, lo, hi), all (n_windows,).

    Args:
        first_t, last_t: (B,) first / last timestamp of each stream (ignored for empty streams).
        offsets: (B+1,) int64 stream boundaries.
        window_us, step_us: µs.
    Returns:
        t_start (µs), recording index, and the stream's event range [lo, hi) of each window.
    """
    offsets = np.asarray(offsets, np.int64)
    lo_s, hi_s = offsets[:-1], offsets[1:]
    nonempty = hi_s > lo_s
    t0 = np.where(nonempty, np.asarray(first_t, np.int64), 0)
    span = np.where(nonempty, np.asarray(last_t, np.int64) - t0 - window_us, 0)
    # k = 0..n-1 with k*step < span  ->  n = ceil(span / step) when span > 0; a non-empty stream
    # shorter than one window still gets one window (starting at its first event)
    n_w = np.where(span > 0, (span + step_us - 1) // step_us, 1)
    n_w[~nonempty] = 0
    rec = np.repeat(np.arange(len(lo_s), dtype=np.int64), n_w)
    first = np.cumsum(n_w) - n_w
    k = np.arange(len(rec), dtype=np.int64) - np.repeat(first, n_w)
    return t0[rec] + k * step_us, rec, lo_s[rec], hi_s[rec]


def _ends_of_streams(t, offsets):
    offsets = np.asarray(offsets, np.int64)
    nonempty = offsets[1:] > offsets[:-1]
    first = np.zeros(len(offsets) - 1, np.int64)
    last = np.zeros(len(offsets) - 1, np.int64)
    first[nonempty] = t[offsets[:-1][nonempty]]
    last[nonempty] = t[offsets[1:][nonempty] - 1]
    return first, last


def window_bounds(t: np.ndarray, offsets: np.ndarray, window_us: int, step_us: int, min_events: int,
                  use_numba: bool = True) -> Windows:
    """Sliding windows of every stream of a ragged batch, vectorised (no Python loop over windows).

    Args:
        t: (N_total,) int64 timestamps in µs, sorted within each stream.
        offsets: (B+1,) int64 stream boundaries; stream b is ``t[offsets[b]:offsets[b+1]]``.
        window_us, step_us: window length and step in µs.
        min_events: windows with fewer events are dropped.
        use_numba: binary search in numba instead of numpy (reference path).
    Returns:
        :class:`Windows` in (stream, time) order.
    """
    t = np.asarray(t)
    first_t, last_t = _ends_of_streams(t, offsets)
    t_start, rec, lo, hi = window_starts(first_t, last_t, offsets, window_us, step_us)
    if use_numba:
        starts = np.empty(len(rec), np.int64)
        ends = np.empty(len(rec), np.int64)
        if len(rec):
            _window_bounds(t, lo, hi, t_start, np.int64(window_us), starts, ends)
    else:
        starts = np.array([a + np.searchsorted(t[a:b], v, "left") for a, b, v in zip(lo, hi, t_start)], np.int64)
        ends = np.array([a + np.searchsorted(t[a:b], v + window_us, "left") for a, b, v in zip(lo, hi, t_start)],
                        np.int64)
    keep = (ends - starts) >= min_events
    return Windows(starts[keep], ends[keep], rec[keep], t_start[keep])


def _check_xy(x, y, w, h, first):
    """Raise for the sampled events (indices ``first``) outside the sensor, naming the earliest."""
    xs = np.asarray(x).astype(np.int64)
    ys = np.asarray(y).astype(np.int64)
    bad = (xs < 0) | (xs >= w) | (ys < 0) | (ys >= h)
    if bad.any():
        i = int(np.argmax(bad))
        raise EventValidationError(f"event {first[i]}: (x, y) = ({xs[i]}, {ys[i]}) is outside the {w}x{h} sensor")


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------


def sample_ref(t, x, y, starts, ends, n_points, sensor_wh, seed=0) -> np.ndarray:
    """Readable reference sampler (Python loop per window; use it for tests only).

    Args:
        t, x, y: (N_total,) columns (t in µs).
        starts, ends: (n_windows,) event index ranges (from :func:`window_bounds`).
        n_points: N points per window.
        sensor_wh: (W, H) used to normalise x and y.
        seed: int >= 0.
    Returns:
        (n_windows, N, 3) float32, columns (x/W, y/H, t normalised to [0, 1]).
    """
    w, h = float(sensor_wh[0]), float(sensor_wh[1])
    out = np.zeros((len(starts), n_points, 3), np.float32)
    for wi, (s, e) in enumerate(zip(starts, ends)):
        count = int(e - s)
        if count == 0:
            continue
        state = _scalar.window_state_py(int(seed), wi)
        if count >= n_points:
            chosen, i = set(), 0
            while len(chosen) < n_points:
                chosen.add(_scalar.draw_below_py(state, i, count))
                i += 1
            idx = np.array(sorted(chosen), np.int64) + s
        else:
            idx = np.sort(np.array([_scalar.draw_below_py(state, i, count) for i in range(n_points)], np.int64)) + s
        _check_xy(x[idx], y[idx], int(w), int(h), first=idx)
        tt = np.asarray(t[idx], np.float64)
        span = tt[-1] - tt[0]
        out[wi, :, 0] = np.asarray(x[idx], np.float64) / w
        out[wi, :, 1] = np.asarray(y[idx], np.float64) / h
        out[wi, :, 2] = (tt - tt[0]) / span if span > 0 else 0.0
    return out


# --------------------------------------------------------------------------------------------
# numba CPU
# --------------------------------------------------------------------------------------------

_ONE = np.uint64(1)
_SIX = np.uint64(6)
_LOW6 = np.uint64(63)


@numba.njit(cache=True)
def _sample_kernel(t, x, y, starts, ends, n_points, w, h, seed, out):
    bad = np.int64(-1)
    for wi in range(starts.shape[0]):
        s = starts[wi]
        count = ends[wi] - s
        if count == 0:
            continue
        state = _jit.window_state(seed, np.uint64(wi))
        cnt = np.uint64(count)
        idx = np.empty(n_points, np.int64)
        m = 0
        if count >= n_points:  # distinct draws, marked in a bitmap, read back in order
            bits = np.zeros((count + 63) // 64, np.uint64)
            got = 0
            i = np.uint64(0)
            while got < n_points:
                r = _jit.draw_below(state, i, cnt)
                i += _ONE
                word = np.int64(r >> _SIX)
                mask = _ONE << (r & _LOW6)
                if bits[word] & mask == 0:
                    bits[word] |= mask
                    got += 1
            for wd in range(bits.shape[0]):
                v = bits[wd]
                b = 0
                while v != 0:
                    if v & _ONE:
                        idx[m] = s + wd * 64 + b
                        m += 1
                    v = v >> _ONE
                    b += 1
        else:  # with replacement: count hits per event, read back in order
            hits = np.zeros(count, np.int64)
            for i in range(n_points):
                hits[np.int64(_jit.draw_below(state, np.uint64(i), cnt))] += 1
            for k in range(count):
                for _ in range(hits[k]):
                    idx[m] = s + k
                    m += 1
        t_first = np.float64(t[idx[0]])
        span = np.float64(t[idx[n_points - 1]]) - t_first
        for k in range(n_points):
            j = idx[k]
            xj = np.float64(x[j])
            yj = np.float64(y[j])
            if (xj < 0 or xj >= w or yj < 0 or yj >= h) and bad < 0:
                bad = j
            out[wi, k, 0] = xj / w
            out[wi, k, 1] = yj / h
            out[wi, k, 2] = (np.float64(t[j]) - t_first) / span if span > 0 else 0.0
    return bad


def sample_numba(t, x, y, starts, ends, n_points, sensor_wh, seed=0) -> np.ndarray:
    """numba CPU sampler, one compiled loop over windows; same contract and result as :func:`sample_ref`."""
    out = np.zeros((len(starts), n_points, 3), np.float32)
    if len(starts):
        bad = _sample_kernel(t, x, y, np.ascontiguousarray(starts, np.int64), np.ascontiguousarray(ends, np.int64),
                             int(n_points), float(sensor_wh[0]), float(sensor_wh[1]), np.uint64(seed), out)
        if bad >= 0:
            raise EventValidationError(
                f"event {bad}: (x, y) = ({x[bad]}, {y[bad]}) is outside the {sensor_wh[0]}x{sensor_wh[1]} sensor")
    return out


# --------------------------------------------------------------------------------------------
# numba.cuda, ragged batch
# --------------------------------------------------------------------------------------------


def scratch_words(counts: np.ndarray, n_points: int) -> np.ndarray:
    """uint64 scratch words each window needs on the GPU: a bitmap (count >= N) or hit counts."""
    counts = np.asarray(counts, np.int64)
    return np.where(counts >= n_points, (counts + 63) // 64, counts)


@functools.lru_cache(maxsize=None)
def _cuda_kernel():
    global cuda  # a module global: the CUDA simulator patches kernels' globals named like numba.cuda
    cuda = _jit.cuda_module()
    _, window_state, draw_below, search_left, _ = _jit.cuda_device_functions()

    @cuda.jit
    def sample_kernel(t, x, y, starts, ends, scratch_off, scratch, idx, n_points, w, h, seed, out):
        wi = cuda.grid(1)
        if wi >= starts.shape[0]:
            return
        s = starts[wi]
        count = ends[wi] - s
        if count == 0:
            return
        one = np.uint64(1)
        state = window_state(seed, np.uint64(wi))
        cnt = np.uint64(count)
        base = scratch_off[wi]
        row = wi * n_points
        m = 0
        if count >= n_points:
            got = 0
            i = np.uint64(0)
            while got < n_points:
                r = draw_below(state, i, cnt)
                i += one
                word = base + np.int64(r >> np.uint64(6))
                mask = one << (r & np.uint64(63))
                if scratch[word] & mask == np.uint64(0):
                    scratch[word] = scratch[word] | mask
                    got += 1
            for wd in range((count + 63) // 64):
                v = scratch[base + wd]
                b = 0
                while v != np.uint64(0):
                    if v & one:
                        idx[row + m] = s + wd * 64 + b
                        m += 1
                    v = v >> one
                    b += 1
        else:
            for i in range(n_points):
                k = np.int64(draw_below(state, np.uint64(i), cnt))
                scratch[base + k] = scratch[base + k] + one
            for k in range(count):
                for _ in range(np.int64(scratch[base + k])):
                    idx[row + m] = s + k
                    m += 1
        t_first = float(t[idx[row]])
        span = float(t[idx[row + n_points - 1]]) - t_first
        for k in range(n_points):
            j = idx[row + k]
            out[wi, k, 0] = float(x[j]) / w
            out[wi, k, 1] = float(y[j]) / h
            if span > 0:
                out[wi, k, 2] = (float(t[j]) - t_first) / span
            else:
                out[wi, k, 2] = 0.0

    @cuda.jit
    def bounds_kernel(t, lo, hi, t_start, window_us, starts, ends):
        wi = cuda.grid(1)
        if wi < starts.shape[0]:
            s = search_left(t, lo[wi], hi[wi], t_start[wi])
            starts[wi] = s
            ends[wi] = search_left(t, s, hi[wi], t_start[wi] + window_us)

    return sample_kernel, bounds_kernel


def _uint64_zeros(like, n: int):
    """(uint64 zeros for the kernel, owner to keep alive).  torch has no CUDA fill for uint64, so
    for torch inputs an int64 tensor is allocated and viewed as uint64 through numba."""
    from ._arrays import is_torch

    if is_torch(like):
        import torch

        owner = torch.zeros(n, dtype=torch.int64, device=like.device)
        return _jit.cuda_module().as_cuda_array(owner).view(np.uint64), owner
    return zeros_like_device(like, (n,), "uint64"), None


def _gather_host(a, idx: np.ndarray) -> np.ndarray:
    """``a[idx]`` copied to the host, moving only the gathered values when ``a`` is a torch tensor."""
    from ._arrays import is_torch

    if is_torch(a):
        import torch

        return a[torch.as_tensor(idx, device=a.device)].cpu().numpy()
    if isinstance(a, np.ndarray):
        return a[idx]
    return a.copy_to_host()[idx]


def window_bounds_cuda(t, offsets, window_us: int, step_us: int, min_events: int) -> Windows:
    """:func:`window_bounds` with the binary searches on the GPU; only 2 values per stream and 2 per
    window cross to the host (``t`` itself stays on the device)."""
    off = to_host(offsets).astype(np.int64)
    nonempty = off[1:] > off[:-1]
    first_t = np.zeros(len(off) - 1, np.int64)
    last_t = np.zeros(len(off) - 1, np.int64)
    if nonempty.any():
        first_t[nonempty] = _gather_host(t, off[:-1][nonempty])
        last_t[nonempty] = _gather_host(t, off[1:][nonempty] - 1)
    t_start, rec, lo, hi = window_starts(first_t, last_t, off, window_us, step_us)
    n = len(rec)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Windows(empty, empty, empty, empty)
    starts = zeros_like_device(t, (n,), "int64")
    ends = zeros_like_device(t, (n,), "int64")
    blocks, threads = launch_1d(n)
    _cuda_kernel()[1][blocks, threads](t, _to_device_like(t, lo), _to_device_like(t, hi), _to_device_like(t, t_start),
                                       np.int64(window_us), starts, ends)
    starts, ends = to_host(starts), to_host(ends)
    keep = (ends - starts) >= min_events
    return Windows(starts[keep], ends[keep], rec[keep], t_start[keep])


def sample_cuda(t, x, y, starts, ends, n_points, sensor_wh, seed=0, out=None):
    """Sampler on the GPU, one thread per window; same result as :func:`sample_ref`.

    Args:
        t, x, y: (N_total,) columns on the device (torch CUDA tensors, numba device arrays, or
            numpy under the CUDA simulator).
        starts, ends: (n_windows,) int64 host arrays from :func:`window_bounds` (they size the
            scratch buffer, so they are needed on the host anyway).
        n_points, sensor_wh, seed: as :func:`sample_ref`.
        out: optional (n_windows, N, 3) float32 array on the device.
    Returns:
        (n_windows, N, 3) float32 on the device of ``t``.
    """
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    n_windows = len(starts)
    if out is None:
        out = zeros_like_device(t, (n_windows, n_points, 3), "float32")
    if n_windows == 0:
        return out
    words = scratch_words(ends - starts, n_points)
    scratch_off = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
    scratch, _keep = _uint64_zeros(t, max(int(words.sum()), 1))
    idx = zeros_like_device(t, (n_windows * n_points,), "int64")

    def dev(a):
        return _to_device_like(t, a)

    blocks, threads = launch_1d(n_windows, threads=64)
    _cuda_kernel()[0][blocks, threads](t, x, y, dev(starts), dev(ends), dev(scratch_off), scratch, idx, int(n_points),
                                    float(sensor_wh[0]), float(sensor_wh[1]), np.uint64(seed), out)
    return out


def _to_device_like(like, a: np.ndarray):
    """Host array ``a`` moved to the device/kind of ``like``."""
    from ._arrays import is_torch

    if is_torch(like):
        import torch

        return torch.from_numpy(np.ascontiguousarray(a)).to(like.device)
    if isinstance(like, np.ndarray):
        return a
    return _jit.cuda_module().to_device(a)


def point_cloud_batch(t, x, y, offsets, sensor_wh, *, window_us, step_us, n_points, min_events=0, seed=0,
                      backend="numba"):
    """Windows + samples for a ragged batch: returns (points (n_windows, N, 3) float32, Windows).

    ``backend`` is 'ref', 'numba' or 'cuda' (the dispatcher in :mod:`eventar.kernels` picks it).
    For 'cuda', t/x/y stay on the device: window bounds are searched there too, and only a few
    values per stream and per window travel to the host (to size the sampler's scratch).
    """
    check_params(window_us, step_us, n_points, min_events)
    w, h = int(sensor_wh[0]), int(sensor_wh[1])
    if backend == "cuda":
        wins = window_bounds_cuda(t, offsets, int(window_us), int(step_us), int(min_events))
        return sample_cuda(t, x, y, wins.start, wins.end, int(n_points), (w, h), seed), wins
    t_host = to_host(t)
    wins = window_bounds(t_host, to_host(offsets), int(window_us), int(step_us), int(min_events),
                         use_numba=backend != "ref")
    sampler = sample_ref if backend == "ref" else sample_numba
    return sampler(t_host, to_host(x), to_host(y), wins.start, wins.end, int(n_points), (w, h), seed), wins
