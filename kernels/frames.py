"""Event frames: per-slice, per-polarity event counts on the pixel grid, output (T, P, H, W).

Slicing follows tonic 1.7 ``ToFrame`` exactly (:func:`slice_bounds` repeats its arithmetic,
including its float edges and its integer bin width), so a slice is an index range
``[start, end)`` into the time-sorted stream and slices may overlap.  Counting is then one pass:

* :func:`to_frame_ref` – readable numpy reference (``np.add.at`` per slice);
* :func:`to_frame_numba` – numba CPU kernel, one pass over each slice (single-threaded: see docs);
* :func:`eventar.kernels.frames_cuda.to_frame_cuda_batch` – numba.cuda kernels over a ragged batch
  (B streams concatenated plus offsets), for the fixed-T modes (``n_time_bins`` / ``n_event_bins``).

Counts are int32 (int64 when a stream has 2**31 events or more): they never wrap, unlike tonic's
int16.  Polarity channel is ``p > 0`` (bool, {0, 1} and {-1, +1} encodings all work) and 0 for a
one-polarity sensor.  A counted event (one inside some slice) outside the sensor raises
:class:`EventValidationError` naming the first such event, on every backend.
"""

from __future__ import annotations

from typing import Tuple

import numba
import numpy as np

from eventar.errors import ConfigError, EventValidationError

from ._records import ev_len, ev_p, ev_x, ev_y, frames_source


# --------------------------------------------------------------------------------------------
# slicing (tonic's arithmetic)
# --------------------------------------------------------------------------------------------


def check_slicing(time_window=None, event_count=None, n_time_bins=None, n_event_bins=None, overlap=0.0,
                  include_last=False) -> str:
    """Validate a slicing spec; return the mode name ('time_window', 'event_count', 'n_time_bins', 'n_event_bins')."""
    given = {k: v for k, v in (("time_window", time_window), ("event_count", event_count),
                               ("n_time_bins", n_time_bins), ("n_event_bins", n_event_bins)) if v is not None}
    if len(given) != 1:
        raise ConfigError(
            "frames: set exactly one of time_window, event_count, n_time_bins, n_event_bins "
            f"(got {sorted(given) or 'none'})"
        )
    (mode, value), = given.items()
    if not value > 0:
        raise ConfigError(f"frames: {mode} = {value!r}, expected > 0")
    if mode in ("n_time_bins", "n_event_bins"):
        if int(value) != value:
            raise ConfigError(f"frames: {mode} = {value!r}, expected an integer")
        if not 0 <= overlap < 1:
            raise ConfigError(f"frames: overlap = {overlap!r} is a fraction of a bin for {mode}; expected 0 <= overlap < 1")
    else:
        if include_last:
            raise ConfigError(f"frames: include_last applies to n_time_bins / n_event_bins, not {mode} (use include_incomplete)")
        if not value - overlap > 0:
            raise ConfigError(f"frames: {mode} - overlap = {value - overlap!r}, expected > 0 (overlap is in {'µs' if mode == 'time_window' else 'events'})")
    return mode


def _numpy_search_windows(t, t_start, stride, window, n_windows):
    """numpy's slice search (slice_bounds' default): windows ``[t_start + k * stride, + window)``
    for k < n_windows, as ``np.searchsorted(t, ·, 'left')`` index ranges."""
    ws = np.arange(n_windows) * stride + t_start
    return np.searchsorted(t, ws, side="left"), np.searchsorted(t, ws + window, side="left")


def slice_bounds(t: np.ndarray, *, time_window=None, event_count=None, n_time_bins=None, n_event_bins=None,
                 overlap=0.0, include_incomplete=False, start_time=None, end_time=None,
                 include_last=False, search=None) -> Tuple[np.ndarray, np.ndarray]:
    """Index ranges of tonic ``ToFrame``'s slices over one stream.

    Args:
        t: (N,) non-decreasing timestamps in µs (any integer or float dtype; a strided view is fine).
        time_window / event_count / n_time_bins / n_event_bins: exactly one slicing mode, as tonic.
        overlap: µs (time_window), events (event_count) or a fraction of a bin (the bin modes).
        include_incomplete: keep the trailing partial slice (time_window / event_count), as tonic.
        start_time, end_time: µs; slicing span for time_window (default first / last event).
        include_last: bin modes only; the last slice runs to the end of the stream, so tonic's
            dropped tail (always at least the last event for n_time_bins) is counted.
        search: ``search(t, t_start, stride, window, n_windows) -> (starts, ends)``: the
            ``np.searchsorted(t, ·, 'left')`` index ranges of the windows
            ``[t_start + k * stride, + window)`` (µs); default numpy's (the numba path passes
            :func:`search_windows`, the same arithmetic compiled, with a strided-safe search).
    Returns:
        (starts, ends): two (T,) int64 arrays, ``0 <= start <= end <= N``.
    """
    mode = check_slicing(time_window, event_count, n_time_bins, n_event_bins, overlap, include_last)
    n = int(t.shape[0])
    if search is None:
        search = _numpy_search_windows
    if mode == "time_window":
        stride = time_window - overlap
        t_start = t[0] if start_time is None else start_time
        t_end = t[-1] if end_time is None else end_time
        duration = t_end - t_start
        rounding = np.ceil if include_incomplete else np.floor
        n_slices = max(int(rounding((duration - time_window) / stride) + 1), 1)
        starts, ends = search(t, t_start, stride, time_window, n_slices)
    elif mode == "event_count":
        count = min(event_count, n)
        stride = event_count - overlap
        rounding = np.ceil if include_incomplete else np.floor
        n_slices = int(rounding((n - count) / stride) + 1)
        starts = (np.arange(n_slices) * stride).astype(np.int64)
        ends = starts + count
    elif mode == "n_time_bins":
        window = (t[-1] - t[0]) // n_time_bins * (1 + overlap)
        stride = window * (1 - overlap)
        starts, ends = search(t, t[0], stride, window, n_time_bins)
    else:  # n_event_bins
        count = int(n // n_event_bins * (1 + overlap))
        stride = int(count * (1 - overlap))
        starts = np.arange(n_event_bins) * stride
        ends = starts + count
    if mode in ("event_count", "n_event_bins"):  # index arithmetic may pass N; the searches give
        # int64 0 <= start <= end <= N already (window >= 0), and each numpy call costs µs
        starts = np.minimum(np.maximum(starts, 0), n)  # np.clip costs ~5 µs a call on (T,) arrays
        ends = np.maximum(np.minimum(ends, n), starts)
    if include_last and len(ends):
        ends[-1] = n
    return starts, ends


def empty_frame_count(time_window=None, event_count=None, n_time_bins=None, n_event_bins=None, overlap=0.0,
                      include_incomplete=False, start_time=None, end_time=None) -> int:
    """Number of frames for an empty stream: T for the bin modes; for time_window the count implied
    by start_time/end_time when both are given; otherwise 1 (tonic's choice)."""
    if n_time_bins is not None:
        return int(n_time_bins)
    if n_event_bins is not None:
        return int(n_event_bins)
    if time_window is not None and start_time is not None and end_time is not None:
        starts, _ = slice_bounds(np.zeros(0, np.int64), time_window=time_window, overlap=overlap,
                                 include_incomplete=include_incomplete, start_time=start_time, end_time=end_time)
        return len(starts)
    return 1


def count_dtype(n_events: int):
    """Frame dtype that cannot overflow for a stream of ``n_events`` (a pixel count is <= N)."""
    return np.int32 if n_events < 2**31 else np.int64


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------


def to_frame_ref(x, y, p, starts, ends, sensor_size, dtype=None) -> np.ndarray:
    """Readable reference: ``frames[i, ch, y, x] += 1`` for every event of slice i.

    Args:
        x, y, p: (N,) columns (x < W, y < H; p any dtype, channel = p > 0, or 0 when P == 1).
        starts, ends: (T,) slice index ranges from :func:`slice_bounds`.
        sensor_size: (W, H, P) with P in {1, 2}.
        dtype: output dtype (default :func:`count_dtype`).
    Returns:
        (T, P, H, W) counts.
    """
    w, h, npol = (int(v) for v in sensor_size)
    x = np.asarray(x).astype(np.int64)
    y = np.asarray(y).astype(np.int64)
    outside = (x < 0) | (x >= w) | (y < 0) | (y >= h)
    counted = np.zeros(len(x), bool)  # only events that land in a slice are checked (as the kernels do)
    for s, e in zip(starts, ends):
        counted[s:e] = True
    bad = outside & counted
    if bad.any():
        i = int(np.argmax(bad))
        raise EventValidationError(f"event {i}: (x, y) = ({x[i]}, {y[i]}) is outside the {w}x{h} sensor")
    ch = (np.asarray(p) > 0).astype(np.int64) if npol == 2 else np.zeros(len(x), np.int64)
    frames = np.zeros((len(starts), npol, h, w), dtype=dtype or count_dtype(len(x)))
    for i, (s, e) in enumerate(zip(starts, ends)):
        np.add.at(frames[i], (ch[s:e], y[s:e], x[s:e]), 1)
    return frames


# --------------------------------------------------------------------------------------------
# numba CPU
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def lower_bounds(t, ws, we):
    """(starts, ends): (K,) int64 ``np.searchsorted(t, ws, 'left')`` and the same for ``we``.

    ``t``: (N,) non-decreasing, any strides (numpy's searchsorted would copy a strided view);
    ``ws``, ``we``: window starts and ends in µs, any real dtype (compared as numpy compares).

    What :func:`search_windows` runs.  A binary search is a chain of dependent reads, each a
    cache miss when ``t`` is not in the cache: the 32 searches of a 16-slice call over 1e6 cold
    events took ~50 µs one after the other.  Here level L of every search runs before level
    L + 1 of any, so the reads of a level are independent and the CPU overlaps their misses
    (~13 µs), and the lower bound is branch-free (a mispredicted branch would discard the reads
    issued after it): ``base`` moves up by ``half`` when ``t[base + half] < v``; the answer is
    ``base + (t[base] < v)``.  One call for both edges: each call into numba or numpy costs µs,
    tens of µs when the caches are cold.
    """
    n = t.shape[0]
    starts = np.zeros(ws.shape[0], np.int64)  # the bases, then the answers
    ends = np.zeros(we.shape[0], np.int64)
    if n == 0:
        return starts, ends
    length = n
    while length > 1:
        half = length >> 1
        for k in range(ws.shape[0]):
            b = starts[k]
            starts[k] = b + half * np.int64(t[b + half] < ws[k])
        for k in range(we.shape[0]):
            b = ends[k]
            ends[k] = b + half * np.int64(t[b + half] < we[k])
        length -= half
    for k in range(ws.shape[0]):
        starts[k] += np.int64(t[starts[k]] < ws[k])
    for k in range(we.shape[0]):
        ends[k] += np.int64(t[ends[k]] < we[k])
    return starts, ends


@numba.njit(cache=True)
def search_windows(t, t_start, stride, window, n_windows):
    """:func:`_numpy_search_windows` compiled: the (starts, ends) index ranges of the windows
    ``[t_start + k * stride, + window)``, k < n_windows, found by :func:`lower_bounds`.

    The windows are built with numpy's expressions, so with the same scalar types (int64 / float64
    time, Python or numpy scalars) the edges are the same floats.  One call into numba instead of
    several small numpy calls: each costs µs, tens of µs when the caches are cold.
    """
    ws = np.arange(n_windows) * stride + t_start
    return lower_bounds(t, ws, ws + window)


@numba.njit(cache=True)
def _frames_kernel(src, starts, ends, frames, two_pol):
    """Count every slice's events into ``frames`` (C-contiguous (T, P, H, W); each slice is zeroed
    here, just before it is counted, while it is about to be in cache anyway).

    ``src``: a record array with fields x, y, p or the named tuple ``XYP`` (see ``_records``).
    Returns the first counted event outside the sensor (int64: the smallest over the slices of
    each slice's first one; a slice stops there), or -1 when there is none.
    Indices are unsigned (no negative-index wraparound code) and two events are read per step
    before either is counted (more independent work in flight: measured 1.2x).
    """
    n_slices, n_pol, h, w = frames.shape
    plane = h * w
    flat = frames.reshape(n_slices * n_pol * plane)
    n = ev_len(src)
    bad = np.int64(-1)
    on_offset = np.uint64(plane if two_pol else 0)  # channel 1 = ON, arithmetic instead of a branch
    uw = np.uint64(w)
    uh = np.uint64(h)
    one = np.uint64(1)
    two = np.uint64(2)
    for i in range(n_slices):
        j = np.uint64(min(max(starts[i], 0), n))
        end = np.uint64(min(max(ends[i], 0), n))
        base = np.uint64(i * n_pol * plane)
        flat[i * n_pol * plane:(i + 1) * n_pol * plane] = 0
        while j + two <= end:
            x0 = np.uint64(np.int64(ev_x(src, j)))  # a negative coordinate becomes huge: one compare
            y0 = np.uint64(np.int64(ev_y(src, j)))
            x1 = np.uint64(np.int64(ev_x(src, j + one)))
            y1 = np.uint64(np.int64(ev_y(src, j + one)))
            if (x0 >= uw) | (y0 >= uh) | (x1 >= uw) | (y1 >= uh):
                break  # the loop below finds which one
            flat[base + np.uint64(ev_p(src, j) > 0) * on_offset + y0 * uw + x0] += 1
            flat[base + np.uint64(ev_p(src, j + one) > 0) * on_offset + y1 * uw + x1] += 1
            j += two
        while j < end:
            xj = np.uint64(np.int64(ev_x(src, j)))
            yj = np.uint64(np.int64(ev_y(src, j)))
            if (xj >= uw) | (yj >= uh):
                if bad < 0 or np.int64(j) < bad:
                    bad = np.int64(j)
                break
            flat[base + np.uint64(ev_p(src, j) > 0) * on_offset + yj * uw + xj] += 1
            j += one
    return bad


def to_frame_numba(x, y, p, starts, ends, sensor_size, dtype=None, records=None) -> np.ndarray:
    """numba CPU kernel, same contract and result as :func:`to_frame_ref`.

    Reads the columns in place: strided field views of one structured array are read through a
    zero-copy record view of it (:func:`~eventar.kernels._records.frames_source`), separate arrays
    as they are.  ``records``: that structured array, when the caller has it (found faster).
    """
    w, h, npol = int(sensor_size[0]), int(sensor_size[1]), int(sensor_size[2])
    n = len(x)
    if len(y) != n or len(p) != n:
        raise EventValidationError(f"x, y, p have {len(x)}, {len(y)}, {len(p)} events: expected one length")
    if len(starts) == 0 or n == 0:
        return np.zeros((len(starts), npol, h, w), dtype=dtype or count_dtype(n))
    frames = np.empty((len(starts), npol, h, w), dtype=dtype or count_dtype(n))  # the kernel zeroes each slice
    bad = _frames_kernel(frames_source(x, y, p, records), np.ascontiguousarray(starts, np.int64),
                         np.ascontiguousarray(ends, np.int64), frames, npol == 2)
    if bad >= 0:
        i = int(bad)
        raise EventValidationError(f"event {i}: (x, y) = ({x[i]}, {y[i]}) is outside the {w}x{h} sensor")
    return frames
