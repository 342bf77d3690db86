"""The one event record of eventar, and the recording that carries it.

Events are a numpy structured array with the fields

========  ========  ====================================================
field     dtype     meaning
========  ========  ====================================================
``t``     int64     timestamp in µs (relative to ``Recording.t_offset``)
``x``     uint16    column as the camera reports it
``y``     uint16    row as the camera reports it (DV, Prophesee: 0 = top; jAER AEDAT 2.0: 0 = bottom)
``p``     uint8     polarity, 1 = ON (brightness up), 0 = OFF
========  ========  ====================================================

Field names match tonic's, so the arrays go straight into ``tonic.transforms``.  Absolute time
is ``t + t_offset`` (DSEC's convention).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from .errors import EventValidationError

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
"""Structured dtype of an eventar event array (13 bytes per event, packed)."""


def empty_events(n: int = 0) -> np.ndarray:
    """A zero-filled event array of length ``n`` (dtype :data:`EVENT_DTYPE`)."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make_events(t, x, y, p) -> np.ndarray:
    """Pack four 1-D arrays into one event array.

    Args:
        t: (N,) integer timestamps in µs.
        x: (N,) column indices.
        y: (N,) row indices.
        p: (N,) polarity; any non-zero / True value means ON.
    Returns:
        (N,) array of :data:`EVENT_DTYPE`.
    """
    t = np.asarray(t)
    n = t.shape[0]
    for name, a in (("x", x), ("y", y), ("p", p)):
        if np.shape(a) != (n,):
            raise EventValidationError(f"field '{name}' has shape {np.shape(a)}, expected ({n},) like 't'")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = y
    ev["p"] = np.asarray(p) != 0
    return ev


def as_events(events: np.ndarray) -> np.ndarray:
    """Return ``events`` as an :data:`EVENT_DTYPE` array (no copy when it already is one).

    Accepts any structured array with fields ``t``, ``x``, ``y``, ``p`` (tonic's
    ``events_struct`` with int16 x/y and bool p, or other integer widths).  Extra fields are dropped.

    Args:
        events: (N,) structured array.
    Returns:
        (N,) array of :data:`EVENT_DTYPE`; never a view that aliases a different dtype.
    """
    events = np.asarray(events)
    if events.dtype == EVENT_DTYPE:
        return events
    names = events.dtype.names or ()
    missing = [f for f in ("t", "x", "y", "p") if f not in names]
    if missing:
        raise EventValidationError(
            f"event array has fields {list(names)}; expected 't', 'x', 'y', 'p' (missing {missing})"
        )
    for f in ("x", "y"):
        col = events[f]
        if col.size and (np.issubdtype(col.dtype, np.signedinteger) and col.min() < 0):
            i = int(np.argmax(col < 0))
            raise EventValidationError(f"event {i}: {f} = {col[i]} is negative")
    return make_events(events["t"], events["x"], events["y"], events["p"])


@dataclasses.dataclass(frozen=True)
class Recording:
    """Events of one recording plus what is known about where they came from.

    Attributes:
        events: (N,) :data:`EVENT_DTYPE` array, t in µs relative to ``t_offset``.
        width: sensor width W in pixels (x < W).
        height: sensor height H in pixels (y < H).
        format: source format name, e.g. ``"AEDAT 2.0"``, ``"EVT 3.0"``, ``"eventar HDF5"``.
        camera: camera model / serial as the file names it ("" when unknown).
        t_offset: µs to add to ``events['t']`` for absolute time (0 when t is already absolute).
        meta: anything else the reader found (header fields, other streams); every reader sets
            ``meta['source_file']``, the path it read (an HDF5 file converted from another: that one's).
    """

    events: np.ndarray
    width: int
    height: int
    format: str = ""
    camera: str = ""
    t_offset: int = 0
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def sensor_size(self) -> Tuple[int, int, int]:
        """tonic's sensor size: (W, H, 2)."""
        return (int(self.width), int(self.height), 2)

    def __len__(self) -> int:
        return int(self.events.shape[0])

    def validate(self) -> "Recording":
        """Check every event against the sensor and time order; return self or raise."""
        validate_events(self.events, (self.width, self.height))
        return self


def validate_events(events: np.ndarray, sensor_wh: Optional[Tuple[int, int]] = None, *, source: str = "") -> None:
    """Raise :class:`EventValidationError` naming the first bad event, if any.

    Checks: dtype is :data:`EVENT_DTYPE`; ``x < W`` and ``y < H`` when ``sensor_wh = (W, H)`` is
    given; ``p`` in {0, 1}; ``t`` non-decreasing.

    Args:
        events: (N,) event array.
        sensor_wh: (W, H) in pixels, or None to skip the coordinate check.
        source: prefix for the message (e.g. the file name).
    """
    pre = f"{source}: " if source else ""
    if events.dtype != EVENT_DTYPE:
        raise EventValidationError(f"{pre}dtype {events.dtype} is not eventar's {EVENT_DTYPE}")
    if events.size == 0:
        return
    if sensor_wh is not None:
        w, h = int(sensor_wh[0]), int(sensor_wh[1])
        for f, lim in (("x", w), ("y", h)):
            bad = events[f] >= lim
            if bad.any():
                i = int(np.argmax(bad))
                raise EventValidationError(f"{pre}event {i}: {f} = {events[f][i]} is outside the sensor ({f} < {lim})")
    badp = events["p"] > 1
    if badp.any():
        i = int(np.argmax(badp))
        raise EventValidationError(f"{pre}event {i}: p = {events['p'][i]}, expected 0 (OFF) or 1 (ON)")
    dt = np.diff(events["t"])
    if (dt < 0).any():
        i = int(np.argmax(dt < 0)) + 1
        raise EventValidationError(
            f"{pre}event {i}: t = {events['t'][i]} µs goes back from {events['t'][i - 1]} µs (t must be non-decreasing)"
        )
