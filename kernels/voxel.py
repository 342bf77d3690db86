"""Voxel grids: events spread over T time bins with bilinear weights in time (Zhu et al. 2019).

Semantics are tonic 1.7 ``ToVoxelGrid``'s, exactly: ``ts = T * (t - t0) / (t_last - t0)``, event
weight ``1 - frac(ts)`` goes to bin ``floor(ts)`` and ``frac(ts)`` to the next bin, both only when
the bin is ``< T`` (so the last event contributes nothing, as in tonic).  The sums are accumulated
in tonic's order (all left weights, then all right weights, each in event order), so the float64
results are bit-identical to tonic's.

Deliberate differences (tonic is wrong there):

* polarity is ``+1`` when ``p > 0`` and ``-1`` otherwise, for every dtype of ``p`` (tonic loses
  OFF events when ``p`` is bool and overflows with uint8);
* a stream whose events all share one timestamp puts weight 1 in bin 0 (tonic divides 0 by 0);
* events with ``t`` before the first event (unsorted input) are ignored instead of wrapping around.

``per_polarity=True`` gives the two-channel variant: unsigned weights, channel ``p > 0``.
Output (T, 1, H, W) signed or (T, 2, H, W) per polarity, float64.
"""

from __future__ import annotations

import numba
import numpy as np

from eventar.errors import ConfigError, EventValidationError

from ._records import ev_len, ev_p, ev_t, ev_x, ev_y, voxel_source


def _check(n_time_bins):
    if int(n_time_bins) != n_time_bins or n_time_bins < 1:
        raise ConfigError(f"voxel grid: n_time_bins = {n_time_bins!r}, expected an integer >= 1")


def _bad_xy(x, y, w, h):
    x = np.asarray(x).astype(np.int64)
    y = np.asarray(y).astype(np.int64)
    bad = (x < 0) | (x >= w) | (y < 0) | (y >= h)
    if bad.any():
        i = int(np.argmax(bad))
        raise EventValidationError(f"event {i}: (x, y) = ({x[i]}, {y[i]}) is outside the {w}x{h} sensor")
    return x, y


def to_voxel_ref(t, x, y, p, sensor_size, n_time_bins, per_polarity=False) -> np.ndarray:
    """Readable numpy reference (tonic's formula with the fixes listed in the module docstring).

    Args:
        t: (N,) timestamps in µs, non-decreasing.  x, y: (N,) pixel coordinates.  p: (N,) any dtype.
        sensor_size: (W, H, P) (P is not used: the output has 1 signed or 2 per-polarity channels).
        n_time_bins: T.
        per_polarity: two unsigned channels instead of one signed channel.
    Returns:
        (T, C, H, W) float64, C = 2 if per_polarity else 1.
    """
    _check(n_time_bins)
    w, h = int(sensor_size[0]), int(sensor_size[1])
    c = 2 if per_polarity else 1
    grid = np.zeros(n_time_bins * c * h * w, np.float64)
    if len(t) == 0:
        return grid.reshape(n_time_bins, c, h, w)
    x, y = _bad_xy(x, y, w, h)
    t = np.asarray(t)
    duration = t[-1] - t[0]
    if duration == 0:
        ts = np.zeros(len(t))
    else:
        ts = n_time_bins * (t.astype(np.float64) - t[0]) / duration
    on = np.asarray(p) > 0
    if per_polarity:
        sign = np.ones(len(t))
        chan = on.astype(np.int64)
    else:
        sign = np.where(on, 1.0, -1.0)
        chan = np.zeros(len(t), np.int64)
    tis = ts.astype(np.int64)
    dts = ts - tis
    keep = ts >= 0
    base = (chan * h + y) * w + x
    left = keep & (tis < n_time_bins)
    np.add.at(grid, base[left] + tis[left] * (c * h * w), sign[left] * (1.0 - dts[left]))
    right = keep & (tis + 1 < n_time_bins)
    np.add.at(grid, base[right] + (tis[right] + 1) * (c * h * w), sign[right] * dts[right])
    return grid.reshape(n_time_bins, c, h, w)


@numba.njit(cache=True)
def _voxel_kernel(t, x, y, p, grid, per_polarity):
    n_bins, c, h, w = grid.shape
    n = t.shape[0]
    t0 = np.float64(t[0])
    duration = np.float64(t[n - 1] - t[0])
    for side in range(2):  # tonic's order: every left weight, then every right weight
        for j in range(n):
            xj = np.int64(x[j])
            yj = np.int64(y[j])
            if xj < 0 or xj >= w or yj < 0 or yj >= h:
                return j
            if duration == 0.0:
                ts = 0.0
            else:
                ts = (n_bins * (np.float64(t[j]) - t0)) / duration
            if ts < 0.0:
                continue
            ti = np.int64(ts)
            dt = ts - ti
            on = p[j] > 0
            if per_polarity:
                ch = 1 if on else 0
                s = 1.0
            else:
                ch = 0
                s = 1.0 if on else -1.0
            if side == 0:
                if ti < n_bins:
                    grid[ti, ch, yj, xj] += s * (1.0 - dt)
            elif ti + 1 < n_bins:
                grid[ti + 1, ch, yj, xj] += s * dt
    return -1


@numba.njit(cache=True)
def _voxel_kernel_sorted(src, grid, per_polarity):
    """One pass for time-sorted input.  Bins are contiguous runs of events; bin b gets the left
    weights of its own events and then the right weights of bin b-1's events (kept in a small
    buffer instead of re-reading the stream) - per voxel the same summation order as the two-pass
    kernel, hence the same bits.  ``src``: a record array with fields t, x, y, p or the named tuple
    ``TXYP`` (see ``_records``).  Returns -1 (done), -2 (input not sorted: caller falls back) or
    the index of an event outside the sensor.

    Per event, with the bin b known: ``ts = (T * (t - t0)) / duration`` (tonic's float64 division,
    kept: the weights must be tonic's bits), check ``b <= ts < b + 1`` (which is
    ``int(ts) == b``), ``dt = ts - b``, right weight ``r = s * dt`` and left weight ``s - r``
    (equal to tonic's ``s * (1 - dt)`` for s = +-1: negation is exact).  Indices are unsigned
    and two events are read per step; a stream whose events share one timestamp uses T = 0 and
    duration = 1 (every ts = 0) instead of a branch.
    """
    n_bins, c, h, w = grid.shape
    plane = c * h * w
    flat = grid.reshape(n_bins * plane)
    n = ev_len(src)
    t0 = np.float64(ev_t(src, 0))
    duration = np.float64(ev_t(src, n - 1) - ev_t(src, 0))
    scale = np.float64(n_bins) if duration != 0.0 else 0.0
    if duration == 0.0:
        duration = 1.0
    lo = np.empty(n_bins + 1, np.int64)  # lo[b] = first event whose ts is >= b (ts < 0 counts below 0)
    for b in range(n_bins + 1):
        a = 0
        z = n
        while a < z:
            mid = (a + z) >> 1
            if (scale * (np.float64(ev_t(src, mid)) - t0)) / duration < b:
                a = mid + 1
            else:
                z = mid
        lo[b] = a
    if lo[0] != 0:  # some leading event has ts < 0: not sorted (the checks below cover the rest)
        return -2
    biggest = 0
    for b in range(n_bins):
        biggest = max(biggest, lo[b + 1] - lo[b])
    cur_idx = np.empty(biggest, np.uint64)
    cur_val = np.empty(biggest, np.float64)
    prev_idx = np.empty(biggest, np.uint64)
    prev_val = np.empty(biggest, np.float64)
    n_prev = 0
    uw = np.uint64(w)
    uh = np.uint64(h)
    on_offset = np.uint64(h * w if per_polarity else 0)  # channel 1 = ON in the two-channel variant
    sign = np.array([1.0 if per_polarity else -1.0, 1.0])  # by p > 0
    one = np.uint64(1)
    two = np.uint64(2)
    for b in range(n_bins):
        base = np.uint64(b * plane)
        bf = np.float64(b)
        bf1 = bf + 1.0
        m = 0
        j = np.uint64(lo[b])
        end = np.uint64(lo[b + 1])
        while j + two <= end:
            x0 = np.uint64(np.int64(ev_x(src, j)))  # a negative coordinate becomes huge: one compare
            y0 = np.uint64(np.int64(ev_y(src, j)))
            x1 = np.uint64(np.int64(ev_x(src, j + one)))
            y1 = np.uint64(np.int64(ev_y(src, j + one)))
            ts0 = (scale * (np.float64(ev_t(src, j)) - t0)) / duration
            ts1 = (scale * (np.float64(ev_t(src, j + one)) - t0)) / duration
            if ((x0 >= uw) | (y0 >= uh) | (x1 >= uw) | (y1 >= uh) | (not ts0 >= bf) | (not ts0 < bf1)
                    | (not ts1 >= bf) | (not ts1 < bf1)):
                break  # the loop below finds which event and why
            on0 = np.uint64(ev_p(src, j) > 0)
            on1 = np.uint64(ev_p(src, j + one) > 0)
            k0 = on0 * on_offset + y0 * uw + x0
            k1 = on1 * on_offset + y1 * uw + x1
            s0 = sign[on0]
            s1 = sign[on1]
            r0 = s0 * (ts0 - bf)
            r1 = s1 * (ts1 - bf)
            flat[base + k0] += s0 - r0
            flat[base + k1] += s1 - r1
            cur_idx[m] = k0
            cur_val[m] = r0
            cur_idx[m + 1] = k1
            cur_val[m + 1] = r1
            m += 2
            j += two
        while j < end:
            xj = np.uint64(np.int64(ev_x(src, j)))
            yj = np.uint64(np.int64(ev_y(src, j)))
            if (xj >= uw) | (yj >= uh):
                return np.int64(j)
            ts = (scale * (np.float64(ev_t(src, j)) - t0)) / duration
            if not (ts >= bf and ts < bf1):
                return -2
            on = np.uint64(ev_p(src, j) > 0)
            k = on * on_offset + yj * uw + xj
            r = sign[on] * (ts - bf)
            flat[base + k] += sign[on] - r
            cur_idx[m] = k
            cur_val[m] = r
            m += 1
            j += one
        for i in range(n_prev):
            flat[base + prev_idx[i]] += prev_val[i]
        cur_idx, prev_idx = prev_idx, cur_idx
        cur_val, prev_val = prev_val, cur_val
        n_prev = m
    for j in range(lo[n_bins], n):  # the tail (ts >= T) adds nothing but must be the tail
        if not (scale * (np.float64(ev_t(src, j)) - t0)) / duration >= n_bins:
            return -2
        xj = np.int64(ev_x(src, j))
        yj = np.int64(ev_y(src, j))
        if xj < 0 or xj >= w or yj < 0 or yj >= h:
            return j
    return -1


def to_voxel_numba(t, x, y, p, sensor_size, n_time_bins, per_polarity=False, records=None) -> np.ndarray:
    """numba CPU kernel; same contract and bit-identical result as :func:`to_voxel_ref`.

    Reads the columns in place (a zero-copy record view of them when they are the fields of one
    structured array, see :func:`~eventar.kernels._records.voxel_source`; ``records``: that
    array, when the caller has it).
    """
    _check(n_time_bins)
    w, h = int(sensor_size[0]), int(sensor_size[1])
    if not len(t) == len(x) == len(y) == len(p):
        raise EventValidationError(f"t, x, y, p have {len(t)}, {len(x)}, {len(y)}, {len(p)} events: expected one length")
    grid = np.zeros((n_time_bins, 2 if per_polarity else 1, h, w), np.float64)
    if len(t) == 0:
        return grid
    bad = _voxel_kernel_sorted(voxel_source(t, x, y, p, records), grid, bool(per_polarity))
    if bad == -2:  # not time-sorted: the serial two-pass kernel is exact for any order
        grid[...] = 0.0
        bad = _voxel_kernel(t, x, y, p, grid, bool(per_polarity))
    if bad >= 0:
        raise EventValidationError(f"event {bad}: (x, y) = ({x[bad]}, {y[bad]}) is outside the {w}x{h} sensor")
    return grid
