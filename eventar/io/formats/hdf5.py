"""HDF5 event files: eventar's layout (see :mod:`eventar.io.hdf5`) and DSEC's ``events.h5``.

Both keep ``events/{x,y,t,p}`` with ``ms_to_idx`` and ``t_offset`` at the root (absolute time =
``t + t_offset``).  eventar files carry their sensor size, camera, source format and the
recording's ``meta`` as root attributes and give back exactly the events that were written;
DSEC files (no eventar attributes) are read with t relative to ``t_offset`` and, unless the file
says otherwise, DSEC's 640×480 sensor.  DSEC's own files are Blosc-compressed: reading them
needs ``import hdf5plugin`` first (the error says so).  Recognised by the HDF5 signature at
byte 0, 512, 1024, … (user blocks), never by extension.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import numpy as np
from numba import njit

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._registry import FormatReader

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DSEC_SIZE = (640, 480)
"""DSEC's sensor (W, H), used for DSEC-layout files without size attributes."""

_FIELDS = ("x", "y", "t", "p")
MAX_COMPRESSION = 1100
"""Largest plausible ratio of a dataset's size to its stored bytes (gzip's ceiling is ~1032:1)."""


def _sniff(head: bytes, path: Path) -> bool:
    off = 0
    while off + 8 <= len(head):
        if head[off : off + 8] == HDF5_SIGNATURE:
            return True
        off = 512 if off == 0 else off * 2
    return False


def _attr(attrs, key: str, default: Any = None) -> Any:
    if key not in attrs:
        return default
    v = attrs[key]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError)
"""What h5py raises on a corrupt file (HDF5 errors surface as several Python types)."""


@contextlib.contextmanager
def _h5_errors(path: Path, what: str) -> Iterator[None]:
    """Turn h5py's exceptions on a damaged file into one :class:`FormatError` naming ``what`` failed."""
    try:
        yield
    except FormatError:
        raise
    except _H5_ERRORS as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        hint = " (DSEC's Blosc filter: `import hdf5plugin` first)" if "filter" in msg.lower() else ""
        raise FormatError(path, f"corrupt or unreadable HDF5 ({what}): {msg}{hint}", None) from None


def _open(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except _H5_ERRORS as e:
        raise FormatError(path, f"not a readable HDF5 file ({e})", 0) from None


def _layout(path: Path, f) -> Tuple[Recording, int]:
    """(header Recording, µs to add to the stored t) for an open file."""
    grp = f.get("events")
    if grp is None or not all(k in grp for k in _FIELDS):
        found = sorted(grp.keys()) if grp is not None else sorted(f.keys())
        raise FormatError(path, f"HDF5 file has no events/x, events/y, events/t, events/p datasets (found {found}); "
                                "eventar reads its own and DSEC's layout", None)
    n = {k: grp[k].shape for k in _FIELDS}
    if any(len(s) != 1 for s in n.values()) or len({s[0] for s in n.values()}) != 1:
        raise FormatError(path, f"events/x, y, t, p must be 1-D of one length, got shapes {n}", None)
    for k in _FIELDS:  # a corrupt shape must not make us read (HDF5 fill values) or allocate far past the file
        d = grp[k]
        plist = d.id.get_create_plist()
        nfilters = plist.get_nfilters() if d.chunks is not None else 0
        if d.compression not in ("gzip", "lzf") and nfilters > (1 if d.shuffle else 0):
            continue  # other filters (Blosc/zstd in DSEC) have no known ceiling ratio
        logical = d.shape[0] * d.dtype.itemsize
        if logical > MAX_COMPRESSION * d.id.get_storage_size() + (1 << 20):
            raise FormatError(path, f"events/{k} claims {d.shape[0]:,} values but stores only "
                                    f"{d.id.get_storage_size():,} bytes (corrupt shape or missing data)", None)
    t_offset = 0
    if "t_offset" in f:
        try:
            t_offset = int(np.asarray(f["t_offset"][()]).reshape(-1)[0])
        except (IndexError, TypeError, ValueError) as e:
            raise FormatError(path, f"t_offset is not an integer scalar ({e})", None) from None
    attrs = f.attrs
    meta: Dict[str, Any] = {"source_file": str(path), "has_ms_to_idx": "ms_to_idx" in f}
    if "eventar_layout" in attrs:
        try:
            meta = json.loads(_attr(attrs, "meta_json", "{}"))
        except json.JSONDecodeError as e:
            raise FormatError(path, f"attribute meta_json is not JSON ({e})", None) from None
        meta["source_format"] = _attr(attrs, "source_format", "")
        meta["source_file"] = _attr(attrs, "source_file", "")
        meta["h5_file"] = str(path)
        meta["h5_layout"] = f"eventar {_attr(attrs, 'eventar_layout')}"
        rec_offset = int(_attr(attrs, "t_offset_recording", 0))
        width, height = int(_attr(attrs, "width")), int(_attr(attrs, "height"))
        head = Recording(np.zeros(0, EVENT_DTYPE), width, height, "eventar HDF5", str(_attr(attrs, "camera", "")),
                         rec_offset, meta)
        return head, t_offset - rec_offset
    if "sensor_size" in attrs:
        size = np.asarray(attrs["sensor_size"]).reshape(-1)
        width, height = int(size[0]), int(size[1])
        meta["sensor_size_source"] = "sensor_size attribute"
    elif "width" in attrs and "height" in attrs:
        width, height = int(_attr(attrs, "width")), int(_attr(attrs, "height"))
        meta["sensor_size_source"] = "width/height attributes"
    else:
        width, height = DSEC_SIZE
        meta["sensor_size_source"] = "DSEC default 640x480 (no size attributes)"
    meta["h5_layout"] = "DSEC"
    return Recording(np.zeros(0, EVENT_DTYPE), width, height, "DSEC HDF5", "", t_offset, meta), 0


def _header(path: Path) -> Recording:
    path = Path(path)
    with _open(path) as f, _h5_errors(path, "reading the layout and attributes"):
        return _layout(path, f)[0]


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    path = Path(path)
    with _open(path) as f:
        with _h5_errors(path, "reading the layout and attributes"):
            head, shift = _layout(path, f)
            grp = f["events"]
            total = grp["t"].shape[0]
        for start in range(0, total, chunk_events):
            stop = min(total, start + chunk_events)
            with _h5_errors(path, f"events {start}..{stop}"):
                cols = {k: np.asarray(grp[k][start:stop]) for k in _FIELDS}
            for k, a in cols.items():
                if a.dtype.kind not in "uib":
                    raise FormatError(path, f"events/{k} has dtype {a.dtype}, expected integers", None)
            out = np.empty(stop - start, EVENT_DTYPE)
            bad = _pack(cols["x"], cols["y"], cols["t"], cols["p"], np.int64(shift), head.width, head.height, out)
            if bad >= 0:
                k = "x" if not 0 <= int(cols["x"][bad]) < head.width else "y"
                raise FormatError(path, f"events/{k}[{start + bad}] = {cols[k][bad]} is outside the "
                                        f"{head.width}x{head.height} sensor", None)
            yield out


@njit(cache=True, nogil=True)
def _pack(x, y, t, p, shift, width, height, out):  # pragma: no cover - compiled
    """Pack column arrays into ``out`` (EVENT_DTYPE) in one pass: t + shift, p > 0 -> 1.

    Returns the index of the first event outside the ``width`` x ``height`` sensor, or -1.
    """
    for i in range(out.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return i
        out[i].t = np.int64(t[i]) + shift
        out[i].x = xi
        out[i].y = yi
        out[i].p = 1 if p[i] > 0 else 0
    return -1


def _read(path: Path) -> Recording:
    path = Path(path)
    head = _header(path)
    parts = list(_chunks(path, 1 << 24))
    ev = parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE))
    return Recording(ev, head.width, head.height, head.format, head.camera, head.t_offset, dict(head.meta))


READERS = [FormatReader(name="HDF5 (eventar, DSEC)", sniff=_sniff, header=_header, chunks=_chunks, read=_read, priority=5)]
