"""Write recordings to HDF5 in eventar's layout (DSEC-compatible), chunk by chunk.

Layout (every dataset chunked and compressed with gzip or lzf, filters built into every HDF5
library, so the file opens without ``hdf5plugin``)::

    /events/x   uint16  (N,)  column
    /events/y   uint16  (N,)  row
    /events/t   int64   (N,)  µs, relative: absolute time = t + /t_offset
    /events/p   uint8   (N,)  1 = ON, 0 = OFF
    /ms_to_idx  uint64  (M,)  ms_to_idx[i] = index of the first event with t >= i * 1000
    /t_offset   int64   ()    µs

This is DSEC's layout (``events/{x,y,t,p}``, ``ms_to_idx``, ``t_offset``), so DSEC readers such
as tonic's read eventar files.  The stored ``t`` starts at 0 (the first event's time goes into
``t_offset``) so that ``ms_to_idx`` stays short for Unix-time clocks; the recording's own
``t_offset`` is kept in the ``t_offset_recording`` attribute and eventar's reader restores the
exact events it was given.  Root attributes: ``eventar_layout``, ``sensor_size`` (W, H),
``width``, ``height``, ``camera``, ``source_format``, ``source_file``, ``polarity_convention``,
``t_unit``, ``n_events``, ``t_offset_recording`` and ``meta_json`` (the recording's ``meta``).

>>> write_h5("out.h5", read_events("in.raw"))                               # whole recording
>>> write_h5("out.h5", iter_events("huge.raw"), header=read_header("huge.raw"))  # flat memory
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from ..errors import EventarError, EventValidationError
from ..events import EVENT_DTYPE, Recording, as_events
from .atomic import atomic_output

__all__ = ["write_h5", "EVENTAR_H5_LAYOUT", "POLARITY_CONVENTION"]

EVENTAR_H5_LAYOUT = 1
"""Version of eventar's HDF5 layout, stored in the ``eventar_layout`` root attribute."""

POLARITY_CONVENTION = "p: 1 = ON (brightness increase), 0 = OFF"

DEFAULT_H5_CHUNK = 1 << 16
"""Events per HDF5 chunk (and per write when given a whole recording)."""

_COMPRESSIONS = ("gzip", "lzf")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("latin-1")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)


def meta_to_json(meta: Any) -> str:
    """The recording's ``meta`` as JSON (numpy scalars/arrays become numbers/lists, other objects strings)."""
    return json.dumps(dict(meta or {}), default=_json_default, sort_keys=True)


def _chunks_of(events: np.ndarray, n: int) -> Iterator[np.ndarray]:
    for i in range(0, len(events), n):
        yield events[i : i + n]


def write_h5(
    path: "os.PathLike[str] | str",
    data: Union[Recording, np.ndarray, Iterable[np.ndarray]],
    *,
    header: Optional[Recording] = None,
    force: bool = False,
    chunk_events: int = DEFAULT_H5_CHUNK,
    compression: str = "gzip",
    compression_level: int = 1,
    source_file: Optional[str] = None,
) -> int:
    """Write events to ``path`` in eventar's HDF5 layout; memory stays bounded by one chunk.

    The file is written to a temporary name beside ``path`` and renamed when complete, so an
    interrupted write never leaves a partial ``path``.

    Args:
        path: output ``.h5`` file.
        data: a :class:`~eventar.events.Recording`, one (N,) event array, or an iterable of (n,)
            event chunks (EVENT_DTYPE or tonic's struct), e.g. :func:`eventar.io.iter_events`.
        header: metadata (sensor size, format, camera, t_offset, meta) when ``data`` is an
            iterable; without it the sensor is taken as (max x + 1, max y + 1) of the data.
        force: overwrite an existing ``path``.
        chunk_events: events per HDF5 chunk (≥ 1).
        compression: ``"gzip"`` (default, smaller) or ``"lzf"`` (faster); both open without plugins.
        compression_level: gzip level 0–9 (ignored for lzf).
        source_file: stored in the ``source_file`` attribute (default: ``meta['source_file']``).
    Returns:
        number of events written.
    Raises:
        OutputExistsError: ``path`` exists and ``force`` is False.
        EventValidationError: t decreases, or a coordinate lies outside the header's sensor.
    """
    import h5py

    if compression not in _COMPRESSIONS:
        raise EventarError(f"compression must be one of {_COMPRESSIONS} (filters that open without plugins), got {compression!r}")
    if chunk_events < 1:
        raise EventarError(f"chunk_events must be >= 1, got {chunk_events}")
    if isinstance(data, Recording):
        header = data
        chunks: Iterable[np.ndarray] = _chunks_of(as_events(data.events), chunk_events)
    elif isinstance(data, np.ndarray):  # one event array (iterating it would yield single records)
        chunks = _chunks_of(as_events(data), chunk_events)
    else:
        chunks = data
    comp_opts = dict(compression=compression, shuffle=True)
    if compression == "gzip":
        comp_opts["compression_opts"] = int(compression_level)

    with atomic_output(path, force=force, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            grp = f.create_group("events")
            dsets = {}
            for name, dt in (("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")):
                dsets[name] = grp.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(chunk_events,), **comp_opts)
            ms = f.create_dataset("ms_to_idx", shape=(0,), maxshape=(None,), dtype="<u8", chunks=(max(1024, min(chunk_events, 1 << 16)),), **comp_opts)
            n = 0
            n_ms = 0
            base: Optional[int] = None
            last_t: Optional[int] = None
            max_x = max_y = -1
            lim = None if header is None else (int(header.width), int(header.height))
            for chunk in chunks:
                ev = as_events(chunk)
                k = len(ev)
                if k == 0:
                    continue
                t = ev["t"]
                if base is None:
                    base = int(t[0])
                    last_t = base
                back = np.flatnonzero(np.diff(t, prepend=np.int64(last_t)) < 0)
                if back.size:
                    i = int(back[0])
                    raise EventValidationError(f"{path}: event {n + i}: t = {t[i]} µs goes back in time (write_h5 needs non-decreasing t)")
                if lim is not None:
                    for fld, w in (("x", lim[0]), ("y", lim[1])):
                        bad = np.flatnonzero(ev[fld] >= w)
                        if bad.size:
                            i = int(bad[0])
                            raise EventValidationError(f"{path}: event {n + i}: {fld} = {ev[fld][i]} is outside the sensor ({fld} < {w})")
                else:
                    max_x = max(max_x, int(ev["x"].max()))
                    max_y = max(max_y, int(ev["y"].max()))
                rel = t - base
                for name in ("x", "y", "p"):
                    dsets[name].resize((n + k,))
                    dsets[name][n:] = ev[name]
                dsets["t"].resize((n + k,))
                dsets["t"][n:] = rel
                last_ms = int(rel[-1]) // 1000
                if last_ms >= n_ms:
                    marks = np.arange(n_ms, last_ms + 1, dtype=np.int64) * 1000
                    idx = np.searchsorted(rel, marks, side="left").astype(np.uint64) + np.uint64(n)
                    ms.resize((last_ms + 1,))
                    ms[n_ms:] = idx
                    n_ms = last_ms + 1
                n += k
                last_t = int(t[-1])
            rec_offset = int(header.t_offset) if header is not None else 0
            f.create_dataset("t_offset", data=np.int64(rec_offset + (base or 0)))
            if header is not None:
                width, height = int(header.width), int(header.height)
                size_source = "recording"
            else:
                width, height = max_x + 1, max_y + 1
                size_source = "max coordinate + 1 (no header given)"
            meta = dict(header.meta) if header is not None else {}
            attrs = f.attrs
            attrs["eventar_layout"] = EVENTAR_H5_LAYOUT
            attrs["sensor_size"] = np.array([width, height], dtype=np.int64)
            attrs["width"] = width
            attrs["height"] = height
            attrs["sensor_size_source"] = size_source
            attrs["camera"] = header.camera if header is not None else ""
            attrs["source_format"] = header.format if header is not None else ""
            attrs["source_file"] = str(source_file if source_file is not None else meta.get("source_file", ""))
            attrs["polarity_convention"] = POLARITY_CONVENTION
            attrs["t_unit"] = "us"
            attrs["n_events"] = n
            attrs["t_offset_recording"] = rec_offset
            attrs["meta_json"] = meta_to_json(meta)
    return n

