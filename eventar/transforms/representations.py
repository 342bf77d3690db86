"""Event representations as tonic-style transforms, plus batched functions for a ragged batch.

The transforms are frozen dataclasses (hashable, usable in ``tonic.transforms.Compose``) taking an
eventar (:data:`eventar.events.EVENT_DTYPE`) or tonic (``tonic.io.events_struct``) structured
array.  They read the fields in place and never modify their input.  The work is done by
:mod:`eventar.kernels` (numba on the CPU; see docs/representations.md for the semantics and the
deliberate differences from tonic).

========================  ===================================  ==================================
transform                 output                               notes
========================  ===================================  ==================================
:class:`ToFrame`          (T, P, H, W) int32 counts            tonic ToFrame slicing; no wrap
:class:`ToVoxelGrid`      (T, 1, H, W) / (T, 2, H, W) float64  tonic ToVoxelGrid, signed polarity
:class:`ToPointCloud`     (n_windows, N, 3) float32            SpikePoint windows + sampling
:class:`ToAFEFrames`      (T, C, H, W) uint8                   ExACT / SpikMamba AFE frames
========================  ===================================  ==================================
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from eventar.errors import ConfigError, EventValidationError


def _kernels():
    from eventar import kernels  # numba is imported on first use, not with eventar.transforms

    return kernels


def _fields(events) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, x, y, p) views of a structured event array (no copy)."""
    events = np.asarray(events)
    names = events.dtype.names or ()
    missing = [f for f in ("t", "x", "y", "p") if f not in names]
    if missing:
        raise EventValidationError(
            f"event array has fields {list(names)}; expected a structured array with 't', 'x', 'y', 'p' "
            f"(missing {missing})"
        )
    return events["t"], events["x"], events["y"], events["p"]


def _infer_sensor(x, y, p) -> Tuple[int, int, int]:
    if len(x) == 0:
        raise ConfigError("sensor_size=None cannot be inferred from an empty event array")
    return int(x.max()) + 1, int(y.max()) + 1, int(np.unique(p).size)


def _check_one_polarity(p, sensor_size):
    if int(sensor_size[2]) == 1 and len(p) and np.unique(p).size > 1:
        raise EventValidationError("sensor_size has one polarity channel but the events contain both polarities")


@dataclasses.dataclass(frozen=True)
class ToFrame:
    """Count events per pixel, polarity and slice: tonic 1.7 ``ToFrame`` semantics.

    Exactly one of ``time_window`` (µs), ``event_count``, ``n_time_bins``, ``n_event_bins``.
    Same shape (T, P, H, W) and same counts as tonic by default.  Differences, all deliberate:

    * counts are int32 (int64 for >= 2**31 events): tonic's int16 wraps past 32,767;
    * an empty stream gives zeros of shape (T, P, H, W) (tonic: float64 (T, P, W, H));
    * the input is never modified (tonic zeroes ``p`` in place when P == 1);
    * ``include_last=True`` (bin modes only) makes the last frame run to the end of the stream, so
      the events tonic drops (always the last one for ``n_time_bins``; the ``N % T`` remainder for
      ``n_event_bins``) are counted.  Off by default because it changes the numbers.

    Args:
        sensor_size: (W, H, P) with P in {1, 2}; None infers it from the events (as tonic).
        overlap: µs for time_window, events for event_count, fraction of a bin for the bin modes.
        include_incomplete, start_time, end_time: as tonic (time_window / event_count).
    Call:
        events (N,) structured array -> (T, P, H, W) int32; frames[t, p, y, x], channel 1 = ON.
    """

    sensor_size: Optional[Tuple[int, int, int]]
    time_window: Optional[float] = None
    event_count: Optional[int] = None
    n_time_bins: Optional[int] = None
    n_event_bins: Optional[int] = None
    overlap: float = 0
    include_incomplete: bool = False
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    include_last: bool = False

    def __call__(self, events) -> np.ndarray:
        events = np.asarray(events)
        t, x, y, p = _fields(events)
        sensor = tuple(self.sensor_size) if self.sensor_size else _infer_sensor(x, y, p)
        _check_one_polarity(p, sensor)
        return _kernels().to_frame(
            t, x, y, p, sensor, time_window=self.time_window, event_count=self.event_count,
            n_time_bins=self.n_time_bins, n_event_bins=self.n_event_bins, overlap=self.overlap,
            include_incomplete=self.include_incomplete, start_time=self.start_time, end_time=self.end_time,
            include_last=self.include_last, records=events,
        )


@dataclasses.dataclass(frozen=True)
class ToVoxelGrid:
    """Voxel grid with bilinear weights in time: tonic 1.7 ``ToVoxelGrid``, bit for bit, where tonic is right.

    Deliberate differences: polarity is +1 for ``p > 0`` and -1 otherwise whatever the dtype of
    ``p`` (tonic counts OFF as +1 when ``p`` is bool); all events at one timestamp put weight 1 in
    bin 0 (tonic: NaN); the input is never modified.

    Args:
        sensor_size: (W, H, P).
        n_time_bins: T.
        per_polarity: (T, 2, H, W) unsigned weights per polarity (channel 1 = ON) instead of
            (T, 1, H, W) signed.
    Call:
        events (N,) structured array, time-sorted -> (T, C, H, W) float64.
    """

    sensor_size: Tuple[int, int, int]
    n_time_bins: int
    per_polarity: bool = False

    def __call__(self, events) -> np.ndarray:
        events = np.asarray(events)
        t, x, y, p = _fields(events)
        return _kernels().to_voxel_grid(t, x, y, p, tuple(self.sensor_size), int(self.n_time_bins),
                                        per_polarity=self.per_polarity, records=events)


@dataclasses.dataclass(frozen=True)
class ToPointCloud:
    """SpikePoint pseudo point clouds: sliding windows, N points sampled per window.

    Windows of ``window_us`` every ``step_us`` from the first event; windows with fewer than
    ``min_events`` events are dropped; ``n_points`` events sampled uniformly without replacement
    (with replacement when the window is short), kept in time order; columns (x/W, y/H, t) with t
    normalised to [0, 1] over the window's sampled points.  Seeded: the same ``seed`` gives the
    same points.  Details in :mod:`eventar.kernels.pointcloud`.

    Args:
        sensor_size: (W, H, P) (W and H normalise x and y).
        window_us, step_us: window length and step, µs (SpikePoint DVS128 Gesture: 500_000 / 250_000).
        n_points: N (1024 for DVS128 Gesture).
        min_events: drop windows with fewer events (SpikePoint's scripts drop <= 100, i.e. 101).
        seed: int >= 0.
    Call:
        events (N,) structured array, time-sorted -> (n_windows, n_points, 3) float32.
        :meth:`windows` also returns the window bounds.
    """

    sensor_size: Tuple[int, int, int]
    window_us: int = 500_000
    step_us: int = 250_000
    n_points: int = 1024
    min_events: int = 101
    seed: int = 0

    def windows(self, events):
        """(points (n_windows, N, 3) float32, :class:`eventar.kernels.Windows`) for one recording."""
        t, x, y, _ = _fields(events)
        offsets = np.array([0, len(t)], np.int64)
        return _kernels().point_cloud_windows(
            t, x, y, offsets, tuple(self.sensor_size), window_us=int(self.window_us), step_us=int(self.step_us),
            n_points=int(self.n_points), min_events=int(self.min_events), seed=int(self.seed),
        )

    def __call__(self, events) -> np.ndarray:
        return self.windows(events)[0]


@dataclasses.dataclass(frozen=True)
class ToAFEFrames:
    """AFE (adaptive fine-grained event) frames as used by ExACT / SpikMamba, a fixed number T.

    The stream is halved recursively while the two halves' opened count images differ by more
    than ``threshold`` (score ``200 * sum|img1 - img2| / n``) and are larger than ``min_events``
    (:mod:`eventar.kernels.afe`).  From the K adaptive segments, T are picked at
    ``round(linspace(0, K - 1, T))`` (uniform over the sequence, first and last kept; segments
    repeat when K < T), each rendered gray (1 channel) or two-colour rgb (3 channels).

    Args:
        sensor_size: (W, H, P).
        preset: dataset whose thresholds to use: 'dvsgesture' (15000, 30), 'paf' / 'efaction'
            (100000, 50), 'seact' (100000, 40), 'hardvs' (150000, 0).
        threshold, min_events: override the preset.
        n_frames: T (8 in SpikMamba's HARDVS setting, 16 for PAF / E-FAction).
        mode: 'gray' or 'rgb'.
        out_size: (H', W') of the frames (default the sensor's); bilinear resize.
    Call:
        events (N,) time-sorted -> (T, C, H', W') uint8.
    """

    sensor_size: Tuple[int, int, int]
    preset: str = "dvsgesture"
    threshold: Optional[float] = None
    min_events: Optional[int] = None
    n_frames: int = 8
    mode: str = "gray"
    out_size: Optional[Tuple[int, int]] = None

    def __call__(self, events) -> np.ndarray:
        k = _kernels()
        if self.preset not in k.AFE_PRESETS:
            raise ConfigError(f"AFE preset {self.preset!r}; expected one of {sorted(k.AFE_PRESETS)}")
        min_events, threshold = k.AFE_PRESETS[self.preset]
        min_events = min_events if self.min_events is None else self.min_events
        threshold = threshold if self.threshold is None else self.threshold
        _, x, y, p = _fields(events)
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        return k.afe_frames(x, y, p, w, h, threshold=float(threshold), min_events=int(min_events),
                            n_frames=int(self.n_frames), mode=self.mode, out_hw=self.out_size)


# ------------------------------------------------------------------------------------------------
# batched functions (ragged batch: concatenated events + offsets)
# ------------------------------------------------------------------------------------------------


def _batch_columns(events):
    """(t, x, y, p) from a structured array or a mapping of arrays / torch tensors."""
    if isinstance(events, np.ndarray) and events.dtype.names:
        return _fields(events)
    try:
        return events["t"], events["x"], events["y"], events["p"]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise EventValidationError(
            "batched events must be a structured array or a mapping with 't', 'x', 'y', 'p' columns"
        ) from exc


def _like_input(out, t):
    """Return ``out`` as a torch tensor when the inputs were torch CPU tensors (cuda stays as is)."""
    if type(t).__module__.startswith("torch") and isinstance(out, np.ndarray):
        import torch

        return torch.from_numpy(out)
    return out


def frames_batch(events, offsets, sensor_size, *, n_time_bins=None, n_event_bins=None, overlap=0.0,
                 include_last=False, backend=None):
    """Frames of a ragged batch, tonic ToFrame semantics per stream.

    Args:
        events: B streams concatenated: a structured array, or a mapping {'t','x','y','p'} of
            (N_total,) arrays / torch tensors (CUDA tensors run on the GPU in one launch).
        offsets: (B+1,) int64; stream b is ``[offsets[b], offsets[b+1])``.
        sensor_size: (W, H, P).  n_time_bins / n_event_bins, overlap, include_last: see :class:`ToFrame`.
        backend: 'ref' | 'numba' | 'cuda' | None (``EVENTAR_KERNELS`` / input device).
    Returns:
        (B, T, P, H, W) int32: numpy for numpy input, torch for torch input (on its device).
    """
    t, x, y, p = _batch_columns(events)
    out = _kernels().frames_batch(t, x, y, p, offsets, sensor_size, n_time_bins=n_time_bins, n_event_bins=n_event_bins,
                                  overlap=overlap, include_last=include_last, backend=backend)
    return _like_input(out, t)


def voxel_batch(events, offsets, sensor_size, n_time_bins, *, per_polarity=False, backend=None):
    """Voxel grids of a ragged batch: (B, T, C, H, W) float64 (see :class:`ToVoxelGrid`, :func:`frames_batch`)."""
    t, x, y, p = _batch_columns(events)
    out = _kernels().voxel_batch(t, x, y, p, offsets, sensor_size, n_time_bins, per_polarity=per_polarity,
                                 backend=backend)
    return _like_input(out, t)


def point_cloud_batch(events, offsets, sensor_size, *, window_us=500_000, step_us=250_000, n_points=1024,
                      min_events=101, seed=0, backend=None):
    """Point clouds of a ragged batch (see :class:`ToPointCloud`).

    Returns:
        (points (n_windows, N, 3) float32, recording (n_windows,) int64 window -> stream index).
    """
    t, x, y, _ = _batch_columns(events)
    points, wins = _kernels().point_cloud_windows(t, x, y, offsets, sensor_size, window_us=window_us, step_us=step_us,
                                                  n_points=n_points, min_events=min_events, seed=seed, backend=backend)
    return _like_input(points, t), wins.recording
