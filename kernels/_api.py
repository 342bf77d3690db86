"""Public kernel entry points: pick a backend (:func:`~eventar.kernels._dispatch.choose`), call it.

Each function takes event columns (t in µs, x, y, p) and returns numpy arrays for the CPU
backends, or arrays on the inputs' device for ``cuda``.
"""

from __future__ import annotations

import numpy as np

from eventar.errors import ConfigError

from . import frames as _frames
from . import frames_cuda as _frames_cuda
from . import pointcloud as _pc
from . import voxel as _voxel
from . import voxel_cuda as _voxel_cuda
from ._arrays import full_like_device, to_host_all
from ._dispatch import choose


def _sensor(sensor_size):
    if sensor_size is None or len(sensor_size) != 3:
        raise ConfigError(f"sensor_size = {sensor_size!r}, expected (W, H, P)")
    w, h, npol = (int(v) for v in sensor_size)
    if w < 1 or h < 1 or npol not in (1, 2):
        raise ConfigError(f"sensor_size = {sensor_size!r}, expected W, H >= 1 and P in (1, 2)")
    return w, h, npol


def _single_offsets(like, n: int):
    off = full_like_device(like, (2,), 0, "int64")
    off[1] = n
    return off


def to_frame(t, x, y, p, sensor_size, *, time_window=None, event_count=None, n_time_bins=None, n_event_bins=None,
             overlap=0.0, include_incomplete=False, start_time=None, end_time=None, include_last=False,
             backend=None, records=None):
    """Event frames of one stream with tonic ``ToFrame`` slicing (see :mod:`eventar.kernels.frames`).

    Args:
        t, x, y, p: (N,) event columns, t in µs non-decreasing.
        sensor_size: (W, H, P), P in {1, 2}.
        time_window ... end_time: tonic's slicing parameters (exactly one of the four modes).
        include_last: bin modes: the last frame runs to the end of the stream (tonic drops the tail).
        backend: 'ref' | 'numba' | 'cuda' | None (dispatcher).  'cuda' supports the bin modes.
        records: the (N,) structured array whose fields t, x, y, p are, when there is one (the
            transforms pass it): the numba kernel then reads it without working out its layout
            from the columns (:func:`~eventar.kernels._records.fields_view`).
    Returns:
        (T, P, H, W) int32 counts (int64 for streams of 2**31 events or more).
    """
    w, h, npol = _sensor(sensor_size)
    slicing = dict(time_window=time_window, event_count=event_count, n_time_bins=n_time_bins,
                   n_event_bins=n_event_bins, overlap=overlap)
    extra = dict(include_incomplete=include_incomplete, start_time=start_time, end_time=end_time)
    n = int(t.shape[0])
    which = choose(t, backend=backend)
    if which == "cuda":
        mode = _frames.check_slicing(include_last=include_last, **slicing)
        if mode not in ("n_time_bins", "n_event_bins") or include_incomplete or start_time is not None or end_time is not None:
            raise ConfigError("the cuda frame kernel supports n_time_bins / n_event_bins (fixed T); use backend='numba'")
        out = _frames_cuda.to_frame_cuda_batch(t, x, y, p, _single_offsets(t, n), sensor_size, n_time_bins=n_time_bins,
                                          n_event_bins=n_event_bins, overlap=overlap, include_last=include_last)
        return out[0]
    t, x, y, p = to_host_all(t, x, y, p)
    if n == 0:
        _frames.check_slicing(include_last=include_last, **slicing)  # slice_bounds checks it otherwise
        return np.zeros((_frames.empty_frame_count(**slicing, **extra), npol, h, w), np.int32)
    search = None if which == "ref" else _frames.search_windows  # numpy's / numba's strided-safe one
    starts, ends = _frames.slice_bounds(t, include_last=include_last, search=search, **slicing, **extra)
    if which == "ref":
        return _frames.to_frame_ref(x, y, p, starts, ends, (w, h, npol))
    return _frames.to_frame_numba(x, y, p, starts, ends, (w, h, npol), records=records)


def frames_batch(t, x, y, p, offsets, sensor_size, *, n_time_bins=None, n_event_bins=None, overlap=0.0,
                 include_last=False, backend=None):
    """Frames of a ragged batch (B streams concatenated; stream b is ``[offsets[b], offsets[b+1])``).

    Args:
        t, x, y, p: (N_total,) columns.  offsets: (B+1,) int64.
        sensor_size: (W, H, P).  n_time_bins / n_event_bins, overlap, include_last: as :func:`to_frame`.
        backend: 'ref' | 'numba' | 'cuda' | None.  'cuda' runs the whole batch in one counting launch.
    Returns:
        (B, T, P, H, W) int32: numpy on the CPU backends, on the inputs' device for 'cuda'.
    """
    w, h, npol = _sensor(sensor_size)
    _frames.check_slicing(None, None, n_time_bins, n_event_bins, overlap, include_last)
    which = choose(t, backend=backend)
    if which == "cuda":
        return _frames_cuda.to_frame_cuda_batch(t, x, y, p, offsets, sensor_size, n_time_bins=n_time_bins,
                                           n_event_bins=n_event_bins, overlap=overlap, include_last=include_last)
    t, x, y, p, offsets = to_host_all(t, x, y, p, offsets)
    n_bins = int(n_time_bins if n_time_bins is not None else n_event_bins)
    out = np.zeros((len(offsets) - 1, n_bins, npol, h, w), np.int32)
    for b in range(len(offsets) - 1):
        sl = slice(int(offsets[b]), int(offsets[b + 1]))
        out[b] = to_frame(t[sl], x[sl], y[sl], p[sl], sensor_size, n_time_bins=n_time_bins, n_event_bins=n_event_bins,
                          overlap=overlap, include_last=include_last, backend=which)
    return out


def to_voxel_grid(t, x, y, p, sensor_size, n_time_bins, *, per_polarity=False, backend=None, records=None):
    """Voxel grid of one stream, tonic ``ToVoxelGrid`` semantics (see :mod:`eventar.kernels.voxel`).

    Args:
        t, x, y, p: (N,) columns, t in µs non-decreasing.  sensor_size: (W, H, P).
        n_time_bins: T.  per_polarity: (T, 2, H, W) unsigned instead of (T, 1, H, W) signed.
        backend: 'ref' | 'numba' | 'cuda' | None.
        records: the structured array the columns are fields of, as for :func:`to_frame`.
    Returns:
        (T, C, H, W) float64.
    """
    w, h, _ = _sensor(sensor_size)
    which = choose(t, backend=backend)
    if which == "cuda":
        return _voxel_cuda.to_voxel_cuda_batch(t, x, y, p, _single_offsets(t, int(t.shape[0])), sensor_size, n_time_bins,
                                          per_polarity=per_polarity)[0]
    t, x, y, p = to_host_all(t, x, y, p)
    if which == "ref":
        return _voxel.to_voxel_ref(t, x, y, p, (w, h, 2), n_time_bins, per_polarity=per_polarity)
    return _voxel.to_voxel_numba(t, x, y, p, (w, h, 2), n_time_bins, per_polarity=per_polarity, records=records)


def voxel_batch(t, x, y, p, offsets, sensor_size, n_time_bins, *, per_polarity=False, backend=None):
    """Voxel grids of a ragged batch: (B, T, C, H, W) float64 (see :func:`to_voxel_grid`)."""
    w, h, _ = _sensor(sensor_size)
    which = choose(t, backend=backend)
    if which == "cuda":
        return _voxel_cuda.to_voxel_cuda_batch(t, x, y, p, offsets, sensor_size, n_time_bins, per_polarity=per_polarity)
    t, x, y, p, offsets = to_host_all(t, x, y, p, offsets)
    out = np.zeros((len(offsets) - 1, n_time_bins, 2 if per_polarity else 1, h, w), np.float64)
    for b in range(len(offsets) - 1):
        sl = slice(int(offsets[b]), int(offsets[b + 1]))
        out[b] = to_voxel_grid(t[sl], x[sl], y[sl], p[sl], sensor_size, n_time_bins, per_polarity=per_polarity,
                               backend=which)
    return out


def point_cloud_windows(t, x, y, offsets, sensor_size, *, window_us, step_us, n_points, min_events=0, seed=0,
                        backend=None):
    """SpikePoint point clouds of a ragged batch (see :mod:`eventar.kernels.pointcloud`).

    Args:
        t, x, y: (N_total,) columns, t in µs sorted within each stream.
        offsets: (B+1,) int64 stream boundaries (``[0, N]`` for one stream).
        sensor_size: (W, H, ...) used for x / W and y / H.
        window_us, step_us: window length and step in µs.  n_points: N.
        min_events: windows with fewer events are dropped.  seed: int >= 0.
        backend: 'ref' | 'numba' | 'cuda' | None.
    Returns:
        (points, windows): (n_windows, N, 3) float32 with columns (x/W, y/H, t in [0, 1]), and a
        :class:`~eventar.kernels.pointcloud.Windows` whose ``recording`` is the window -> stream index.
    """
    if sensor_size is None or len(sensor_size) < 2:
        raise ConfigError(f"sensor_size = {sensor_size!r}, expected (W, H, ...)")
    which = choose(t, backend=backend)
    return _pc.point_cloud_batch(t, x, y, offsets, (int(sensor_size[0]), int(sensor_size[1])), window_us=window_us,
                                 step_us=step_us, n_points=n_points, min_events=min_events, seed=seed, backend=which)


def afe_frames(x, y, p, width, height, *, threshold, min_events, n_frames, mode="gray", out_hw=None, backend=None):
    """AFE frames of one stream (see :func:`eventar.kernels.afe.afe_frames`), dispatched.

    There is no GPU AFE kernel (AFE runs once per sample, offline): 'cuda' runs the numba kernel.
    Returns (T, C, H', W') uint8.
    """
    from . import afe as _afe

    which = choose(x, backend=backend)
    x, y, p = to_host_all(x, y, p)
    return _afe.afe_frames(x, y, p, width, height, threshold=threshold, min_events=min_events, n_frames=n_frames,
                           mode=mode, out_hw=out_hw, backend="ref" if which == "ref" else "numba")


__all__ = ["afe_frames", "frames_batch", "point_cloud_windows", "to_frame", "to_voxel_grid", "voxel_batch"]
