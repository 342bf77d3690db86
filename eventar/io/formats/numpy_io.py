"""Events stored with numpy: ``.npy`` and ``.npz`` files (recognised by their bytes).

Layouts read:

* **structured** array (in a ``.npy``, or as the only array of a ``.npz``) with fields for time,
  x, y and polarity, in any order and any integer/float/bool widths — eventar's own
  :data:`~eventar.events.EVENT_DTYPE`, tonic's ``events_struct`` (int16 x/y, bool p) and others.
  Field names accepted: t / ts / timestamp / timestamps / time; x; y; p / pol / polarity / on.
* **separate arrays** in a ``.npz``: keys ``t``, ``x``, ``y``, ``p`` (or the aliases above) — the
  layout of HARDVS's compact event files and SpikingJelly's folder datasets.
* **N×4 plain matrix**: the column order must be known.  :func:`read_npy` takes it explicitly
  (``columns='xypt'``); :func:`eventar.io.read_events` infers it from the first 1,000,000 rows —
  polarity is the one column whose values are all in {0, 1} or {−1, 1}, time the one
  non-decreasing column among the others, and x, y the remaining two in their stored order —
  and raises a :class:`~eventar.errors.FormatError` asking for ``read_npy(path, columns=...)``
  when that is ambiguous.  The order used is in ``meta['columns']``.

Time is taken as µs unless ``t_unit`` says otherwise (tonic's preprocessed DVSGesture ``.npy`` files
are ``columns='xypt', t_unit='ms'``); float times are rounded to whole µs.  Polarity −1/1 or
False/True becomes 0/1.  Times are returned as stored (``meta['t_monotonic']`` says whether they
never decrease).

**Sensor size**: from stored metadata when the ``.npz`` has it (``sensor_size`` = (W, H[, 2]), or
``width`` and ``height``), else max(x)+1 × max(y)+1, and ``meta['sensor_size_source']`` says which.

``.npy`` files are memory-mapped and ``.npz`` members are read as streams, so
:func:`~eventar.io.iter_events` keeps memory bounded by the chunk size (except for Fortran-ordered
N×4 matrices, which are loaded whole).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._registry import FormatReader

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
INFER_ROWS = 1_000_000
_ALIASES = {
    "t": ("t", "ts", "timestamp", "timestamps", "time"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "pol", "polarity", "on"),
}
_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "ns": 1e-3}

__all__ = ["read_npy", "READERS"]


# ------------------------------------------------------------------------------- array streams
class _Stream:
    """Sequential reader of one stored array's rows (memmap for .npy, zip stream for .npz)."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple, fortran: bool, source, data_offset: int):
        self.path, self.dtype, self.shape, self.fortran = path, dtype, shape, fortran
        self.n = int(shape[0]) if shape else 0
        self.row_items = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        self._src = source  # np.memmap (whole array) or a file object positioned at the data
        self._pos = 0
        self._offset = data_offset

    def read(self, rows: int) -> np.ndarray:
        rows = min(rows, self.n - self._pos)
        if isinstance(self._src, np.memmap) and self._pos == 0 and rows == self.n and not self.fortran:
            # whole array at once: one read() into fresh memory beats faulting in a file mapping
            count = int(np.prod(self.shape))
            out = np.fromfile(self.path, dtype=self.dtype, count=count, offset=self._offset)
            if len(self.shape) > 1:
                out = out.reshape(self.shape)
        elif isinstance(self._src, np.ndarray):
            out = np.asarray(self._src[self._pos: self._pos + rows])
        else:
            nbytes = rows * self.row_items * self.dtype.itemsize
            try:
                raw = self._src.read(nbytes)
            except Exception as e:  # zlib.error, BadZipFile (CRC), EOFError from a damaged .npz member
                raise FormatError(self.path, f"cannot read array data: {type(e).__name__}: {e}", self._offset) from None
            if len(raw) != nbytes:
                raise FormatError(self.path, f"array data ends early: expected {nbytes} more bytes, got {len(raw)}",
                                  self._offset)
            out = np.frombuffer(raw, dtype=self.dtype).reshape((rows,) + tuple(self.shape[1:]))
        self._pos += rows
        self._offset += rows * self.row_items * self.dtype.itemsize
        return out


def _read_npy_header(path: Path, f, limit: int) -> Tuple[np.dtype, tuple, bool]:
    """Parse a .npy header from file object ``f``; check the data fits in ``limit`` bytes."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version} (eventar reads 1.0 and 2.0)")
    except FormatError:
        raise
    except Exception as e:  # numpy parses the header with ast/tokenize; zip members may fail to inflate
        raise FormatError(path, f"invalid .npy header: {type(e).__name__}: {e}", 0) from None
    if dtype.hasobject:
        raise FormatError(path, f"array dtype {dtype} holds Python objects; eventar reads numeric arrays only", 0)
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize if shape else dtype.itemsize
    if need > limit:
        raise FormatError(path, f"array of shape {shape} and dtype {dtype} needs {need} bytes; only {limit} are stored", 0)
    return dtype, tuple(int(s) for s in shape), bool(fortran)


def _open_npy(path: Path) -> _Stream:
    size = path.stat().st_size
    with open(path, "rb") as f:
        dtype, shape, fortran = _read_npy_header(path, f, size)
        offset = f.tell()
    if size - offset < (int(np.prod(shape)) if shape else 1) * dtype.itemsize:
        raise FormatError(path, f"array of shape {shape} needs more bytes than the file holds", offset)
    if not shape or int(np.prod(shape)) == 0:
        return _Stream(path, dtype, shape, fortran, np.zeros(shape or (0,), dtype), offset)
    mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return _Stream(path, dtype, shape, fortran, mm, offset)


def _open_npz(path: Path) -> Tuple[Dict[str, _Stream], Dict[str, np.ndarray]]:
    """Streams for the event arrays of a .npz and the small metadata arrays loaded whole."""
    try:
        zf = zipfile.ZipFile(path)
    except Exception as e:
        raise FormatError(path, f"not a readable .npz (zip) archive: {type(e).__name__}: {e}", 0) from None
    streams: Dict[str, _Stream] = {}
    small: Dict[str, np.ndarray] = {}
    try:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            f = zf.open(info)
            dtype, shape, fortran = _read_npy_header(path, f, info.file_size)
            st = _Stream(path, dtype, shape, fortran, f, info.header_offset)
            if key in ("sensor_size", "width", "height") and int(np.prod(shape or (1,))) <= 3:
                small[key] = st.read(st.n) if shape else np.frombuffer(f.read(dtype.itemsize), dtype=dtype)
            else:
                streams[key] = st
    except FormatError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, EOFError, NotImplementedError (unknown compression) ...
        raise FormatError(path, f"corrupt .npz member: {type(e).__name__}: {e}") from None
    return streams, small


# ------------------------------------------------------------------------------- layouts
def _field_map(names) -> Optional[Dict[str, str]]:
    low = {n.lower(): n for n in names}
    out = {}
    for key, aliases in _ALIASES.items():
        hit = next((low[a] for a in aliases if a in low), None)
        if hit is None:
            return None
        out[key] = hit
    return out


def _check_columns(path: Path, columns: str) -> str:
    c = columns.lower().replace(",", "").replace(" ", "")
    if sorted(c) != ["p", "t", "x", "y"]:
        raise FormatError(path, f"columns={columns!r}: expected the four letters t, x, y, p in the stored order (e.g. 'txyp', 'xypt')")
    return c


def _infer_columns(path: Path, sample: np.ndarray) -> str:
    cols = [sample[:, i] for i in range(4)]
    pol = [i for i, c in enumerate(cols) if c.size and (np.isin(c, (0, 1)).all() or np.isin(c, (-1, 1)).all())]
    mono = [i for i, c in enumerate(cols) if i not in pol and (c.size < 2 or (np.diff(c) >= 0).all())]
    if len(pol) != 1 or len(mono) != 1:
        raise FormatError(path, f"cannot tell the column order of this N×4 array (polarity-like columns {pol}, "
                                f"non-decreasing columns {mono}); state it: eventar.io.read_npy(path, columns='txyp')")
    rest = [i for i in range(4) if i not in (pol[0], mono[0])]
    order = [""] * 4
    order[pol[0]], order[mono[0]], order[rest[0]], order[rest[1]] = "p", "t", "x", "y"
    return "".join(order)


class _Layout:
    """How to turn rows of the stored arrays into events."""

    def __init__(self, path: Path, columns: Optional[str]):
        self.path = path
        self.meta: Dict = {}
        self.small: Dict[str, np.ndarray] = {}
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == NPY_MAGIC:
            self.streams = {"": _open_npy(path)}
            self.meta["container"] = "npy"
        else:
            self.streams, self.small = _open_npz(path)
            self.meta["container"] = "npz"
        fm = _field_map(self.streams)
        if fm is not None and len(self.streams) > 1:
            self.kind, self.fields = "separate", fm
            n = {self.streams[v].n for v in fm.values()}
            bad = [k for k, v in fm.items() if len(self.streams[v].shape) != 1]
            if bad or len(n) != 1:
                raise FormatError(path, f"arrays {list(fm.values())} must be 1-D and of one length; shapes "
                                        f"{[self.streams[v].shape for v in fm.values()]}")
            self.n = n.pop()
            self.meta["layout"] = "separate arrays " + ", ".join(fm.values())
            return
        arrays = [k for k, s in self.streams.items()]
        if len(arrays) != 1:
            raise FormatError(path, f"expected one event array or arrays t, x, y, p; found {sorted(arrays)}")
        self.key = arrays[0]
        st = self.streams[self.key]
        self.n = st.n
        if st.dtype.names:
            fm = _field_map(st.dtype.names)
            if fm is None or len(st.shape) != 1:
                raise FormatError(path, f"structured array with fields {st.dtype.names} and shape {st.shape}: expected "
                                        f"1-D with fields t, x, y, p (aliases {_ALIASES})")
            self.kind, self.fields = "struct", fm
            self.meta["layout"] = f"structured {st.dtype.names}"
        elif len(st.shape) == 2 and st.shape[1] == 4:
            self.kind = "matrix"
            if st.fortran:
                st._src = np.ascontiguousarray(st._src)  # documented: Fortran-ordered matrices are loaded whole
            if columns is None:
                sample = st._src[: min(st.n, INFER_ROWS)] if isinstance(st._src, np.ndarray) else None
                if sample is None:  # npz stream: read the sample then reopen the stream
                    sample = st.read(min(st.n, INFER_ROWS))
                    self.streams, self.small = _open_npz(path)
                    st = self.streams[self.key]
                self.columns = _infer_columns(path, np.asarray(sample))
                self.meta["columns_inferred"] = True
            else:
                self.columns = _check_columns(path, columns)
            self.meta["columns"] = self.columns
            self.meta["layout"] = f"N×4 matrix, columns {self.columns}"
        else:
            raise FormatError(path, f"array of shape {st.shape} and dtype {st.dtype}: expected a structured event "
                                    f"array or an N×4 matrix")

    def blocks(self, rows: int, t_unit: str, check_p: bool = True) -> Iterator[np.ndarray]:
        """Events in blocks of ``rows``; ``check_p=False`` leaves the 0/1 check of eventar-dtype
        polarity to the caller (:func:`read_npy` does it in its single statistics pass)."""
        done = 0
        while done < self.n:
            m = min(rows, self.n - done)
            if self.kind == "separate":
                cols = {k: self.streams[v].read(m) for k, v in self.fields.items()}
            elif self.kind == "struct":
                blk = self.streams[self.key].read(m)
                if blk.dtype == EVENT_DTYPE:  # eventar's own layout: one copy plus a polarity check
                    yield _checked_copy(self.path, blk, done, check_p)
                    done += m
                    continue
                cols = {k: blk[v] for k, v in self.fields.items()}
            else:
                blk = self.streams[self.key].read(m)
                cols = {c: blk[:, i] for i, c in enumerate(self.columns)}
            yield _to_events(self.path, cols, t_unit, done)
            done += m


def _checked_copy(path: Path, blk: np.ndarray, first: int, check_p: bool = True) -> np.ndarray:
    fresh = type(blk) is np.ndarray and blk.flags.owndata and blk.flags.writeable
    out = blk if fresh else np.array(blk, dtype=EVENT_DTYPE, copy=True)
    if check_p and len(out) and int(out["p"].max()) > 1:
        i = int(np.argmax(out["p"] > 1))
        raise FormatError(path, f"event {first + i}: p = {out['p'][i]}; expected polarity 0/1")
    return out


def _to_events(path: Path, cols: Dict[str, np.ndarray], t_unit: str, first: int) -> np.ndarray:
    n = cols["t"].shape[0]
    out = np.empty(n, dtype=EVENT_DTYPE)
    scale = _UNITS[t_unit]
    t = cols["t"]
    if t.dtype.kind == "f" or scale != 1.0:
        tf = t.astype(np.float64) * scale
        if not np.isfinite(tf).all():
            i = int(np.argmax(~np.isfinite(tf)))
            raise FormatError(path, f"event {first + i}: t = {t[i]} is not a finite number")
        out["t"] = np.rint(tf).astype(np.int64)
    elif t.dtype.kind in "iub":
        out["t"] = t
    else:
        raise FormatError(path, f"time column has dtype {t.dtype}; expected integers or floats")
    for f in ("x", "y"):
        c = cols[f]
        if c.dtype.kind not in "iubf":
            raise FormatError(path, f"{f} column has dtype {c.dtype}; expected integers")
        if c.dtype.kind in "ub" and c.dtype.itemsize <= 2:
            out[f] = c  # always a valid pixel index
            continue
        if c.size and (c.min() < 0 or c.max() > 65535 or (c.dtype.kind == "f" and (np.rint(c) != c).any())):
            bad = (c < 0) | (c > 65535) | ((np.rint(c) != c) if c.dtype.kind == "f" else False)
            i = int(np.argmax(bad))
            raise FormatError(path, f"event {first + i}: {f} = {c[i]} is not a pixel index (0..65535)")
        out[f] = c
    p = cols["p"]
    if p.size:
        if p.dtype.kind == "b":
            out["p"] = p
        else:
            lo, hi = p.min(), p.max()
            if lo >= 0 and hi <= 1:
                ok = None  # 0/1 (also covers float 0.0/1.0 only if integral; checked below)
                if p.dtype.kind == "f" and (np.rint(p) != p).any():
                    ok = (p == 0) | (p == 1)
            else:
                ok = (p == -1) | (p == 1)
            if ok is not None and not ok.all():
                i = int(np.argmax(~ok))
                raise FormatError(path, f"event {first + i}: p = {p[i]}; expected polarity 0/1 or -1/1")
            out["p"] = p > 0
    return out


def _sensor(layout: _Layout, mx: int, my: int) -> Tuple[int, int, str]:
    s = layout.small
    try:
        if "sensor_size" in s and np.asarray(s["sensor_size"]).size >= 2:
            w, h = (int(v) for v in np.asarray(s["sensor_size"]).ravel()[:2])
            return w, h, "stored 'sensor_size'"
        if "width" in s and "height" in s:
            return int(np.asarray(s["width"]).ravel()[0]), int(np.asarray(s["height"]).ravel()[0]), "stored 'width'/'height'"
    except (TypeError, ValueError, OverflowError):
        raise FormatError(layout.path, "stored sensor size is not a pair of integers") from None
    return mx + 1, my + 1, "max(x)+1, max(y)+1 over the events (no sensor size stored)"


def _check_unit(path: Path, t_unit: str) -> str:
    if t_unit not in _UNITS:
        raise FormatError(path, f"t_unit={t_unit!r}; expected one of {sorted(_UNITS)}")
    return t_unit


def read_npy(path: "os.PathLike[str] | str", columns: Optional[str] = None, t_unit: str = "us") -> Recording:
    """Read events from a ``.npy`` / ``.npz`` file, stating the column order of N×4 matrices.

    Args:
        path: the file.
        columns: for an N×4 matrix, the stored column order as four letters, e.g. ``'txyp'`` or
            ``'xypt'`` (ignored for structured arrays and separate t/x/y/p arrays); None infers it
            (see the module docstring) and fails loudly when it cannot.
        t_unit: unit of the stored time: ``'us'`` (default), ``'ms'``, ``'s'`` or ``'ns'``;
            returned t is always int64 µs.
    Returns:
        :class:`~eventar.events.Recording`: (N,) EVENT_DTYPE events, sensor size, format
        ``"numpy npy"`` / ``"numpy npz"`` and ``meta`` (layout, columns, sensor_size_source,
        t_monotonic).
    Raises:
        FormatError: unreadable file, unknown layout, ambiguous column order, bad values.
    """
    path = Path(path)
    _check_unit(path, t_unit)
    lay = _Layout(path, columns)
    parts = list(lay.blocks(max(1, lay.n), t_unit, check_p=False))
    events = parts[0] if parts else np.zeros(0, EVENT_DTYPE)
    from .._decode_aedat import event_stats

    mx, my, mp, mono = event_stats(events)
    if mp > 1:
        i = int(np.argmax(events["p"] > 1))
        raise FormatError(path, f"event {i}: p = {events['p'][i]}; expected polarity 0/1")
    w, h, how = _sensor(lay, int(mx), int(my))
    meta = dict(lay.meta, sensor_size_source=how, t_unit=t_unit, source_file=str(path), t_monotonic=bool(mono))
    return Recording(events, w, h, f"numpy {lay.meta['container']}", "", 0, meta)


# ------------------------------------------------------------------------------- registry hooks
def _sniff_npy(head: bytes, path: Path) -> bool:
    return head.startswith(NPY_MAGIC)


def _sniff_npz(head: bytes, path: Path) -> bool:
    if not head.startswith(ZIP_MAGIC) or len(head) < 30:
        return False
    n = int.from_bytes(head[26:28], "little")
    name = head[30: 30 + n]
    return name.endswith(b".npy")


def _header(path: Path) -> Recording:
    lay = _Layout(path, None)
    mx = my = -1
    if not ({"sensor_size"} <= set(lay.small) or {"width", "height"} <= set(lay.small)):
        for ev in lay.blocks(1 << 20, "us"):
            if len(ev):
                mx, my = max(mx, int(ev["x"].max())), max(my, int(ev["y"].max()))
        lay = _Layout(path, None)
    w, h, how = _sensor(lay, mx, my)
    return Recording(np.zeros(0, EVENT_DTYPE), w, h, f"numpy {lay.meta['container']}", "", 0,
                     dict(lay.meta, sensor_size_source=how, n_events=lay.n, source_file=str(path)))


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    yield from _Layout(path, None).blocks(int(chunk_events), "us")


READERS = [
    FormatReader("numpy npy", _sniff_npy, _header, _chunks, read=lambda p: read_npy(p), priority=5),
    FormatReader("numpy npz", _sniff_npz, _header, _chunks, read=lambda p: read_npy(p), priority=5),
]
