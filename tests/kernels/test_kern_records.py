"""Zero-copy record views of event columns (kernels/_records.py): same values, no copy, never
beyond the memory of the arrays they come from, None where the columns are not one record array."""

from __future__ import annotations

import collections
import gc

import numpy as np
import pytest
from _kern_streams import TONIC_DTYPE, random_stream

from eventar.events import EVENT_DTYPE
from eventar.kernels._records import TXYP, XYP, fields_view, frames_source, record_view, voxel_source


def _address(a):
    return a.__array_interface__["data"][0]


def _within(view, owner):
    lo = _address(owner)
    hi = lo + owner.nbytes
    start = _address(view)
    end = start + (len(view) - 1) * view.strides[0] + view.dtype.itemsize
    return lo <= start and end <= hi


def _eventar_stream(n, seed):
    ev = random_stream(n, seed=seed)
    mine = np.zeros(n, EVENT_DTYPE)
    for f in "txyp":
        mine[f] = ev[f]
    return mine


@pytest.mark.parametrize("make", [lambda: random_stream(50, seed=1), lambda: _eventar_stream(50, 2)],
                         ids=["tonic", "eventar"])
@pytest.mark.parametrize("cut", [slice(None), slice(3, 41), slice(1, None), slice(None, -1), slice(0, 49, 2),
                                 slice(1, 50, 3)], ids=str)
def test_view_reads_the_same_values_in_place_and_stays_inside_the_array(make, cut):
    ev = make()[:]
    part = ev[cut]
    cols = [part[f] for f in "txyp"]
    for names, chosen in (("txyp", cols), ("xyp", cols[1:])):
        view = record_view(chosen, names)
        assert view is not None and view.shape == (len(part),) and not view.flags.writeable
        for name, col in zip(names, chosen):
            np.testing.assert_array_equal(view[name], col)
            assert _address(view[name]) == _address(col)  # the same bytes, not a copy
        assert _within(view, ev)
        if view.dtype.itemsize == view.strides[0]:
            assert view.flags.c_contiguous


def test_padding_to_the_stride_only_where_the_padding_is_memory_of_the_array():
    ev = _eventar_stream(40, 3)  # t at 0, x/y/p at 8..13: x, y, p alone span 5 of 13 bytes
    whole = record_view([ev["x"], ev["y"], ev["p"]], "xyp")
    assert whole.dtype.itemsize == 13 and whole.flags.c_contiguous  # t's bytes before x are ev's
    every_other = record_view([ev["x"][::2], ev["y"][::2], ev["p"][::2]], "xyp")
    assert every_other.dtype.itemsize == 26 and _within(every_other, ev)  # record 39 pads record 38
    odd = _eventar_stream(41, 3)
    every_other = record_view([odd["x"][::2], odd["y"][::2], odd["p"][::2]], "xyp")
    assert every_other.dtype.itemsize == 5 and _within(every_other, odd)  # 26 bytes would pass odd's end
    np.testing.assert_array_equal(every_other["x"], odd["x"][::2])
    # a column whose base chain is not an ndarray cannot prove its padding exists
    raw = np.frombuffer(ev.tobytes(), EVENT_DTYPE)
    loose = np.ndarray((40,), np.dtype("<u2"), buffer=raw.data, offset=8, strides=(13,))
    ys = np.ndarray((40,), np.dtype("<u2"), buffer=raw.data, offset=10, strides=(13,))
    ps = np.ndarray((40,), np.dtype("u1"), buffer=raw.data, offset=12, strides=(13,))
    view = record_view([loose, ys, ps], "xyp")
    np.testing.assert_array_equal(view["y"], ev["y"])
    assert view.dtype.itemsize in (5, 13) and _within(view, raw)


def test_not_one_record_array_gives_none():
    ev = random_stream(30, seed=4)
    other = random_stream(30, seed=5)
    assert record_view([ev["x"], other["y"], ev["p"]], "xyp") is None  # two arrays
    assert record_view([np.ascontiguousarray(ev["x"]), ev["y"], ev["p"]], "xyp") is None  # different strides
    assert record_view([ev["x"][:-1], ev["y"][1:], ev["p"][:-1]], "xyp") is None  # shifted by a whole record
    assert record_view([ev["x"][::-1], ev["y"][::-1], ev["p"][::-1]], "xyp") is None  # negative stride
    assert record_view([ev["x"], ev["x"], ev["p"]], "xyp") is None  # overlapping fields
    assert record_view([ev["x"][:1], ev["y"][:1], ev["p"][:1]], "xyp") is None  # a single event
    swapped = np.zeros(30, [("x", ">i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    assert record_view([swapped["x"], swapped["y"], swapped["p"]], "xyp") is None  # not native-endian
    halves = np.zeros(30, [("x", "<f2"), ("y", "<f2"), ("p", "?")])
    assert record_view([halves["x"], halves["y"], halves["p"]], "xyp") is None  # float16: numba has none
    pairs = np.zeros((30, 2), np.int16)
    assert record_view([pairs[:, 0], pairs[:, 1], pairs[:, 0]], "xyp") is None
    view = record_view([pairs[:, 0], pairs[:, 1]], "xy")  # columns of a 2-D array are records too
    assert view is not None and view.dtype.itemsize == 4


def test_sources_fall_back_to_named_tuples_of_the_columns():
    ev = random_stream(30, seed=6)
    x = np.ascontiguousarray(ev["x"])
    src = frames_source(x, ev["y"], ev["p"])
    assert isinstance(src, XYP) and src.x is x
    src = voxel_source(ev["t"], x, ev["y"], ev["p"])
    assert isinstance(src, TXYP) and src.x is x
    assert frames_source(ev["x"], ev["y"], ev["p"]).dtype.names == ("x", "y", "p")


def test_view_keeps_the_memory_alive():
    ev = np.zeros(1000, TONIC_DTYPE)
    ev["x"] = np.arange(1000) % 7
    view = record_view([ev["x"], ev["y"], ev["p"]], "xyp")
    del ev
    gc.collect()
    np.zeros(1000, TONIC_DTYPE)  # would reuse freed memory
    assert view["x"].tolist() == [i % 7 for i in range(1000)]


def test_event_accessors_also_work_in_plain_python():
    """ev_len / ev_t / ev_x / ev_y / ev_p read a record array and a columns tuple alike outside numba."""
    import numpy as np

    from eventar.events import make_events
    from eventar.kernels import _records as R

    ev = make_events(t=[10, 20, 30], x=[1, 2, 3], y=[4, 5, 6], p=[0, 1, 1])
    cols = collections.namedtuple("Cols", "t x y p")(*(np.asarray(ev[k]) for k in "txyp"))
    for src in (ev, cols):
        assert R.ev_len(src) == 3
        assert (R.ev_t(src, 2), R.ev_x(src, 1), R.ev_y(src, 0), R.ev_p(src, 1)) == (30, 2, 4, 1)


@pytest.mark.parametrize("make", [lambda: random_stream(40, seed=7), lambda: _eventar_stream(40, 8)],
                         ids=["tonic", "eventar"])
def test_fast_path_for_whole_arrays_gives_the_general_paths_view(make):
    """Fields of a whole C-contiguous structured array skip the address analysis; the view is the
    one the general path builds (same dtype, memory, flags), and anything else falls through."""
    from eventar.kernels import _records as R

    ev = make()
    for names in ("txyp", "xyp", "pyx"):
        cols = [ev[f] for f in names]
        fast = R._whole_records(cols, names)
        general = R._rebuilt_records(cols, names, len(ev), ev.itemsize)
        assert fast is not None and fast.dtype == general.dtype
        assert fast.__array_interface__ == general.__array_interface__
        assert not fast.flags.writeable and fast.flags.c_contiguous and ev.flags.writeable
        assert record_view(cols, names).dtype == general.dtype
    other = np.dtype({"names": ["y", "x", "p"], "formats": [ev.dtype["x"], ev.dtype["y"], ev.dtype["p"]],
                      "offsets": [ev.dtype.fields["x"][1], ev.dtype.fields["y"][1], ev.dtype.fields["p"][1]],
                      "itemsize": ev.itemsize})
    swapped = ev.view(other)  # its "x" is ev's "y": same base, same dtype, another address
    not_fast = [
        ([swapped["x"], ev["y"], ev["p"]], "xyp"),  # a field of the same base at another offset
        ([ev["x"], ev["y"], ev["p"]], "abc"),  # names that are not the array's fields
        ([ev[1:]["x"], ev[1:]["y"], ev[1:]["p"]], "xyp"),  # part of the array
    ]
    assert swapped["x"].base is ev and swapped["x"].dtype == ev.dtype["x"]
    for cols, names in not_fast:
        assert R._whole_records(cols, names) is None
    view = record_view(*not_fast[1])  # the general path still sees records, under the new names
    np.testing.assert_array_equal(view["a"], ev["x"])
    objects = np.zeros(10, [("x", "<i2"), ("y", "<i2"), ("o", object), ("p", "?")])
    assert R._whole_records([objects["x"], objects["y"], objects["p"]], "xyp") is None


@pytest.mark.parametrize("make", [lambda: random_stream(50, seed=1), lambda: _eventar_stream(50, 2)],
                         ids=["tonic", "eventar"])
@pytest.mark.parametrize("cut", [slice(None), slice(3, 41), slice(1, None)], ids=str)
def test_fields_view_of_the_callers_records_is_the_record_view(make, cut):
    """Given the structured array the columns came from (what the transforms pass), the view is
    the one record_view finds from the columns' addresses: same dtype, same memory, read-only."""
    owner = make()
    ev = owner[cut]
    cols = [ev[f] for f in "txyp"]
    fast = fields_view(ev, cols, "txyp")
    slow = record_view(cols, "txyp")
    assert fast is not None and fast.dtype == slow.dtype and not fast.flags.writeable
    assert _address(fast) == _address(slow) and len(fast) == len(ev)
    for f in "txyp":
        np.testing.assert_array_equal(fast[f], ev[f])
    src = frames_source(ev["x"], ev["y"], ev["p"], ev)
    assert src.dtype.names == ("x", "y", "p") and src.dtype.itemsize == ev.dtype.itemsize
    for f in "xyp":
        assert _address(src[f]) == _address(ev[f])


def test_fields_view_refuses_records_the_columns_are_not_from():
    """A wrong ``records`` (another array, a strided one, one of another length) is not trusted:
    the sources then find the layout from the columns, so the kernels still read the right events."""
    ev = random_stream(40, seed=3)
    other = ev.copy()
    cols = [ev[f] for f in "xyp"]
    assert fields_view(other, cols, "xyp") is None
    assert fields_view(ev[::2], [ev[::2][f] for f in "xyp"], "xyp") is None
    assert fields_view(ev[:-1], cols, "xyp") is None
    assert fields_view(ev, [np.ascontiguousarray(c) for c in cols], "xyp") is None
    src = frames_source(*cols, other)
    assert _address(src) == _address(record_view(cols, "xyp"))  # read from ev, not from the copy
