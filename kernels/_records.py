"""Event columns as one zero-copy record array for the numba CPU kernels, plus field accessors.

The transforms pass the fields of a structured event array (tonic's 13-byte ``events_struct``,
eventar's ``EVENT_DTYPE``) as strided column views.  numba compiles a loop over three or four
such views into one pointer, stride and index computation per column; over a record array whose
layout is known at compile time it becomes one address per event and constant field offsets,
which measured 2x faster for frames and voxel grids (``benchmarks/bench_representations.py``).

:func:`record_view` rebuilds that record array from the columns without copying anything: it
works when the columns lie side by side in one array of records (same length, same stride,
non-overlapping fields inside one stride), whatever their names in the original dtype.  Columns
that are separate arrays (e.g. contiguous copies) go to the kernels as a named tuple instead.
The accessors :func:`ev_len`, :func:`ev_t`, :func:`ev_x`, :func:`ev_y`, :func:`ev_p` read event
``j`` from either form inside a numba kernel, so one kernel source serves both.
"""

from __future__ import annotations

import collections
import functools
from typing import Optional, Sequence

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

XYP = collections.namedtuple("XYP", ["x", "y", "p"])
TXYP = collections.namedtuple("TXYP", ["t", "x", "y", "p"])


class _Interface:
    """Carries an ``__array_interface__`` to ``np.asarray`` and keeps the columns alive."""

    def __init__(self, interface, owners):
        self.__array_interface__ = interface
        self._owners = owners


def _is_number(dtype: np.dtype) -> bool:
    """A native-endian bool, integer, float32 or float64: what numba reads (no float16 / longdouble)."""
    return dtype.isnative and (dtype.kind in "biu" or dtype.kind == "f" and dtype.itemsize in (4, 8))


@numba.njit(cache=True)
def _address(a):
    """Data address of ``a``, an ndarray of :func:`_is_number` items: ~0.3 µs a call, where
    ``a.__array_interface__`` and ``a.ctypes`` build a dict or an object each time (1.3 µs; 5.6 µs
    for a structured array)."""
    return a.ctypes.data


def _byte_bounds(a: np.ndarray):
    """[low, high) byte addresses spanned by ``a`` (any dtype)."""
    low = high = a.ctypes.data
    for n, s in zip(a.shape, a.strides):
        if n == 0:
            return low, low
        if s < 0:
            low += (n - 1) * s
        else:
            high += (n - 1) * s
    return low, high + a.itemsize


def _padding_lead(column: np.ndarray, a0: int, n: int, stride: int, span: int):
    """Bytes of padding to put before the first field so that N records of ``stride`` bytes from
    ``a0 - lead`` lie inside an ndarray on ``column``'s ``.base`` chain (memory that is there to
    read); None when no such array covers them."""
    a = column.base
    while isinstance(a, np.ndarray):
        low, high = _byte_bounds(a)
        lead = max(0, a0 + n * stride - high)  # the least lead that ends the last record inside
        if lead <= stride - span and a0 - lead >= low:
            return lead
        a = a.base
    return None


@functools.lru_cache(maxsize=64)
def _record_dtype(names, formats, offsets, itemsize):
    return np.dtype({"names": list(names), "formats": [np.dtype(f) for f in formats], "offsets": list(offsets),
                     "itemsize": itemsize})


@functools.lru_cache(maxsize=64)
def _fields_dtype(dtype: np.dtype, names):
    """The dtype :func:`record_view` gives for the fields ``names`` of a C-contiguous array of
    ``dtype`` records (same offsets, item size ``dtype.itemsize``), or None when a name is not a
    field, a field is not a native number, two of them overlap or ``dtype`` holds objects."""
    fields = dtype.fields
    if fields is None or dtype.hasobject or not all(name in fields for name in names):
        return None
    kinds = [fields[name][0] for name in names]
    offsets = [fields[name][1] for name in names]
    if not all(_is_number(k) for k in kinds):
        return None
    spans = sorted((o, o + k.itemsize) for o, k in zip(offsets, kinds))
    if any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1)):
        return None
    return _record_dtype(tuple(names), tuple(k.str for k in kinds), tuple(offsets), dtype.itemsize)


def _whole_records(columns, names) -> Optional[np.ndarray]:
    """Fast path of :func:`record_view` for the usual input, ``events[name]`` for each name of a
    whole C-contiguous structured array ``events``: :func:`fields_view` of ``events`` itself (what
    the general path rebuilds, same dtype, found in ~5 µs instead of ~10) once the columns'
    addresses confirm they are its fields ``names``, or None when they are not that."""
    b = columns[0].base
    view = fields_view(b, columns, names)
    if view is None:
        return None
    fields = b.dtype.fields
    origin = _address(b[names[0]]) - fields[names[0]][1]  # b's address (its fields are numbers)
    for c, name in zip(columns, names):
        kind, offset = fields[name][:2]
        if c.dtype != kind or _address(c) != origin + offset:
            return None
    return view


def _rebuilt_records(columns, names, n: int, stride: int) -> Optional[np.ndarray]:
    """General path of :func:`record_view`: finds the columns' record layout from their
    addresses and builds the view through ``__array_interface__``; None when they are not records."""
    ptrs = [_address(c) for c in columns]
    a0 = min(ptrs)
    offsets = [q - a0 for q in ptrs]
    fields = sorted((o, o + c.itemsize) for o, c in zip(offsets, columns))
    span = fields[-1][1]
    if span > stride or any(fields[k][1] > fields[k + 1][0] for k in range(len(fields) - 1)):
        return None
    lead, itemsize = 0, span  # lead: bytes of padding before the first field
    if span < stride:  # pad each record to the stride where the padding is readable memory
        pad = _padding_lead(columns[0], a0, n, stride, span)
        if pad is not None:
            lead, itemsize = pad, stride
    dtype = _record_dtype(tuple(names), tuple(c.dtype.str for c in columns), tuple(o + lead for o in offsets),
                          itemsize)
    interface = {"data": (a0 - lead, True), "shape": (n,), "strides": (stride,), "typestr": f"|V{itemsize}",
                 "version": 3}
    return np.asarray(_Interface(interface, tuple(columns))).view(dtype)


def record_view(columns: Sequence[np.ndarray], names: Sequence[str]) -> Optional[np.ndarray]:
    """Read-only (N,) structured view whose field ``names[i]`` is ``columns[i]``, or None.

    Args:
        columns: 1-D numpy arrays of one length N >= 2 and one positive stride, each field a
            native-endian bool, integer, float32 or float64 (what numba reads), not overlapping,
            all inside one stride: the fields of one array of records (any dtype, any field
            order, other fields allowed).
        names: a field name for each column.
    Returns:
        A view of the same memory (no copy; it keeps the columns alive) whose item size equals
        the stride when the padding it then covers lies inside an array on the columns' ``.base``
        chain (a C-contiguous record array: the stride is a compile-time constant for numba), else
        the columns' span (a strided record array); None when the columns are not laid out so.
        Columns that are the fields ``names`` of one whole C-contiguous structured array (the
        transforms' input) take a fast path to the same view.
    """
    for c in columns:
        if not isinstance(c, np.ndarray) or c.ndim != 1:
            return None
    n = columns[0].shape[0]
    stride = columns[0].strides[0]
    if n < 2 or stride <= 0:
        return None
    for c in columns:
        if c.shape[0] != n or c.strides[0] != stride or not _is_number(c.dtype):
            return None
    view = _whole_records(columns, names)
    return view if view is not None else _rebuilt_records(columns, names, n, stride)


# --------------------------------------------------------------------------------------------
# accessors usable in numba kernels: event j of a record array or of a named tuple of columns
# --------------------------------------------------------------------------------------------


def _field(src, name, j):
    return src[name][j] if isinstance(src, np.ndarray) else getattr(src, name)[j]


def ev_len(src):
    """Number of events in ``src`` (a record array or a named tuple of columns; numba compiles the overload)."""
    return src.shape[0] if isinstance(src, np.ndarray) else len(src.x)


def ev_t(src, j):
    """Timestamp (µs) of event ``j`` of ``src``."""
    return _field(src, "t", j)


def ev_x(src, j):
    """x of event ``j`` of ``src``."""
    return _field(src, "x", j)


def ev_y(src, j):
    """y of event ``j`` of ``src``."""
    return _field(src, "y", j)


def ev_p(src, j):
    """Polarity of event ``j`` of ``src``."""
    return _field(src, "p", j)


def _is_records(src) -> bool:
    return isinstance(src, types.Array) and isinstance(src.dtype, types.Record)


@overload(ev_len)
def _ev_len(src):
    if _is_records(src):
        return lambda src: src.shape[0]
    return lambda src: src.x.shape[0]


@overload(ev_t)
def _ev_t(src, j):
    if _is_records(src):
        return lambda src, j: src[j].t
    return lambda src, j: src.t[j]


@overload(ev_x)
def _ev_x(src, j):
    if _is_records(src):
        return lambda src, j: src[j].x
    return lambda src, j: src.x[j]


@overload(ev_y)
def _ev_y(src, j):
    if _is_records(src):
        return lambda src, j: src[j].y
    return lambda src, j: src.y[j]


@overload(ev_p)
def _ev_p(src, j):
    if _is_records(src):
        return lambda src, j: src[j].p
    return lambda src, j: src.p[j]


def fields_view(records, columns: Sequence[np.ndarray], names: Sequence[str]) -> Optional[np.ndarray]:
    """Read-only view of the fields ``names`` of ``records``, the structured array that ``columns``
    were taken from (``columns[i] = records[names[i]]``), or None.

    The caller's word replaces :func:`record_view`'s address checks: ~10 µs with cold caches
    instead of ~60 µs (four calls into numba).  A cheap guard remains: ``records`` must be a 1-D
    C-contiguous array whose fields ``names`` are native numbers, and each column a view of the
    same memory (``.base``: numpy points a field view at the array that owns the memory).
    """
    if not isinstance(records, np.ndarray) or records.ndim != 1 or not records.flags.c_contiguous:
        return None
    owner = records.base if isinstance(records.base, np.ndarray) else records
    for c in columns:
        if not isinstance(c, np.ndarray) or c.base is not owner or c.shape != records.shape:
            return None
    dtype = _fields_dtype(records.dtype, tuple(names))
    if dtype is None:
        return None
    view = records.view(dtype, np.ndarray)
    view.flags.writeable = False
    return view


def _source(columns, names, records, columns_type):
    rec = fields_view(records, columns, names) if records is not None else None
    if rec is None:
        rec = record_view(columns, names)
    return rec if rec is not None else columns_type(*columns)


def frames_source(x, y, p, records=None):
    """What the frame kernel reads: a record view of (x, y, p) or the named tuple :data:`XYP`.
    ``records``: the structured array the columns are fields of, when the caller has it
    (:func:`fields_view`)."""
    return _source((x, y, p), ("x", "y", "p"), records, XYP)


def voxel_source(t, x, y, p, records=None):
    """What the voxel kernel reads: a record view of (t, x, y, p) or the named tuple :data:`TXYP`
    (``records`` as for :func:`frames_source`)."""
    return _source((t, x, y, p), ("t", "x", "y", "p"), records, TXYP)
