"""Frames: exact parity with tonic 1.7 ToFrame, the deliberate differences, reference == numba."""

from __future__ import annotations

import numpy as np
import pytest
import tonic
from _kern_streams import TONIC_DTYPE, random_stream, streams
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventar.errors import ConfigError, EventarError, EventValidationError
from eventar.events import make_events
from eventar.kernels import frames as F
from eventar.kernels import to_frame
from eventar.transforms import ToFrame

W, H = 32, 24
SENSOR = (W, H, 2)

SLICINGS = [
    dict(n_time_bins=1),
    dict(n_time_bins=7),
    dict(n_time_bins=16, overlap=0.5),
    dict(n_time_bins=5, overlap=0.1),
    dict(n_event_bins=6),
    dict(n_event_bins=4, overlap=0.25),
    dict(event_count=97),
    dict(event_count=97, overlap=13, include_incomplete=True),
    dict(event_count=5000),
    dict(time_window=7_000),
    dict(time_window=7_000, overlap=2_500, include_incomplete=True),
    dict(time_window=33_333, start_time=-5_000, end_time=130_000),
    dict(time_window=10_000, include_incomplete=True, start_time=20_000),
    dict(time_window=250_000),
]


def tonic_frames(ev, sensor=SENSOR, **kw):
    return tonic.transforms.ToFrame(sensor_size=sensor, **kw)(ev.copy())


@pytest.mark.parametrize("kw", SLICINGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_frames_equal_tonic_over_parameter_grid(kw):
    ev = random_stream(3000, W, H, seed=1)
    ref = tonic_frames(ev, **kw)
    ours = ToFrame(sensor_size=SENSOR, **kw)(ev)
    assert ours.shape == ref.shape
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("kw", SLICINGS[:8], ids=str)
def test_reference_and_numba_kernels_agree(kw):
    ev = random_stream(2000, W, H, seed=2)
    a = to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, backend="ref", **kw)
    b = to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, backend="numba", **kw)
    np.testing.assert_array_equal(a, b)


bin_slicing = st.one_of(
    st.builds(dict, n_time_bins=st.integers(1, 9), overlap=st.sampled_from([0, 0.25, 0.5])),
    st.builds(dict, n_event_bins=st.integers(1, 9), overlap=st.sampled_from([0, 0.3])),
    st.builds(dict, event_count=st.integers(1, 30), include_incomplete=st.booleans()),
    st.builds(dict, time_window=st.sampled_from([2, 10, 1000, 20_000]), include_incomplete=st.booleans()),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ev=streams(min_events=1), kw=bin_slicing)
def test_frames_equal_tonic_on_generated_streams(ev, kw):
    """Single events, ties, long gaps and events exactly on edges (integer bins of 1 µs)."""
    assume((ev["t"][-1] - ev["t"][0]) / kw.get("time_window", 1e9) < 2000)  # keep tonic's per-slice loop short
    ref = tonic_frames(ev, sensor=(6, 5, 2), **kw)
    ours = ToFrame(sensor_size=(6, 5, 2), **kw)(ev)
    np.testing.assert_array_equal(ours, ref)


@settings(max_examples=60, deadline=None)
@given(ev=streams(min_events=1), n=st.integers(1, 9), overlap=st.sampled_from([0, 0.5]))
def test_include_last_counts_every_event_and_only_changes_the_last_frame(ev, n, overlap):
    plain = ToFrame(sensor_size=(6, 5, 2), n_time_bins=n, overlap=overlap)(ev)
    full = ToFrame(sensor_size=(6, 5, 2), n_time_bins=n, overlap=overlap, include_last=True)(ev)
    np.testing.assert_array_equal(full[:-1], plain[:-1])
    assert (full[-1] >= plain[-1]).all()
    if overlap == 0:  # disjoint bins: every event is counted exactly once
        assert full.sum() == len(ev)


def test_tonic_drops_the_last_event_and_include_last_keeps_it():
    ev = make_events(np.arange(32), np.zeros(32), np.zeros(32), np.ones(32))
    ref = tonic_frames(ev, n_time_bins=16)
    assert ref.sum() == 16  # tw = 1: tonic keeps t = 0..15 only, half the events
    assert ToFrame(SENSOR, n_time_bins=16)(ev).sum() == 16
    assert ToFrame(SENSOR, n_time_bins=16, include_last=True)(ev).sum() == 32
    ev = random_stream(1000, W, H, seed=3)
    assert tonic_frames(ev, n_event_bins=7).sum() == 1000 - 1000 % 7
    assert ToFrame(SENSOR, n_event_bins=7, include_last=True)(ev).sum() == 1000


def test_no_int16_wrap_where_tonic_wraps():
    n = 40_000
    ev = make_events(np.arange(n), np.full(n, 3), np.full(n, 4), np.ones(n))
    ref = tonic_frames(ev, n_event_bins=1)
    assert ref[0, 1, 4, 3] == n - 65_536  # tonic's int16 wraps to -25,536
    ours = ToFrame(SENSOR, n_event_bins=1)(ev)
    assert ours[0, 1, 4, 3] == n and ours.dtype == np.int32


@pytest.mark.parametrize("kw, n_frames", [(dict(n_time_bins=5), 5), (dict(n_event_bins=3), 3),
                                          (dict(time_window=1000), 1), (dict(event_count=10), 1),
                                          (dict(time_window=1000, start_time=0, end_time=5000), 5)])
def test_empty_input_has_the_normal_shape(kw, n_frames):
    empty = np.zeros(0, TONIC_DTYPE)
    ours = ToFrame(sensor_size=(W, H, 2), **kw)(empty)
    assert ours.shape == (n_frames, 2, H, W) and not ours.any()
    if "start_time" not in kw:
        assert tonic_frames(empty, sensor=(W, H, 2), **kw).shape == (n_frames, 2, W, H)  # tonic swaps H and W


def test_one_polarity_sensor_does_not_modify_the_input():
    ev = random_stream(500, W, H, seed=4)
    ev["p"] = True
    before = ev.copy()
    ours = ToFrame(sensor_size=(W, H, 1), n_time_bins=4)(ev)
    np.testing.assert_array_equal(ev, before)
    ref = tonic.transforms.ToFrame(sensor_size=(W, H, 1), n_time_bins=4)(ev)  # tonic zeroes p in place
    assert not ev["p"].any()
    np.testing.assert_array_equal(ours, ref)
    two = random_stream(50, W, H, seed=5)
    with pytest.raises(EventValidationError, match="one polarity"):
        ToFrame(sensor_size=(W, H, 1), n_time_bins=2)(two)


def test_eventar_and_tonic_dtypes_give_the_same_frames_and_inputs_stay_untouched():
    ev = random_stream(2000, W, H, seed=6)
    mine = make_events(ev["t"], ev["x"], ev["y"], ev["p"])
    snap = mine.copy()
    a = ToFrame(SENSOR, n_time_bins=9)(mine)
    b = ToFrame(SENSOR, n_time_bins=9)(ev)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mine, snap)


def test_usable_inside_tonic_compose_and_sensor_inference():
    ev = random_stream(800, W, H, seed=7)
    out = tonic.transforms.Compose([tonic.transforms.Denoise(filter_time=10_000), ToFrame(SENSOR, n_time_bins=3)])(ev)
    assert out.shape == (3, 2, H, W)
    inferred = ToFrame(None, n_time_bins=3)(ev)
    np.testing.assert_array_equal(inferred, tonic.transforms.ToFrame(sensor_size=None, n_time_bins=3)(ev.copy()))
    assert {ToFrame(SENSOR, n_time_bins=3)} == {ToFrame(SENSOR, n_time_bins=3)}  # frozen, hashable


def test_bad_inputs_raise_eventar_errors():
    ev = random_stream(100, W, H, seed=8)
    with pytest.raises(ConfigError, match="exactly one"):
        ToFrame(SENSOR)(ev)
    with pytest.raises(ConfigError, match="exactly one"):
        ToFrame(SENSOR, n_time_bins=2, time_window=10)(ev)
    with pytest.raises(ConfigError, match="overlap"):
        ToFrame(SENSOR, n_time_bins=2, overlap=1.5)(ev)
    with pytest.raises(ConfigError, match="include_last"):
        ToFrame(SENSOR, time_window=100, include_last=True)(ev)
    with pytest.raises(ConfigError, match="time_window - overlap"):
        ToFrame(SENSOR, time_window=100, overlap=100)(ev)
    bad = ev.copy()
    bad["x"][37] = W
    for backend in ("ref", "numba"):
        with pytest.raises(EventValidationError, match=r"event 37: \(x, y\) = \(32, "):
            to_frame(bad["t"], bad["x"], bad["y"], bad["p"], SENSOR, n_time_bins=3, backend=backend)
    with pytest.raises(EventValidationError, match="missing"):
        ToFrame(SENSOR, n_time_bins=2)(np.zeros(3, [("t", "<i8"), ("x", "<i2")]))
    assert issubclass(EventValidationError, EventarError) and issubclass(EventarError, ValueError)



@pytest.mark.parametrize("t_dtype", ["<i8", "<f8", "<f4", "<i4", "<u4"])
def test_numba_window_search_gives_numpys_slices_for_every_time_dtype(t_dtype):
    """search_windows builds the windows inside numba: with any time dtype and any mix of Python
    int / float / numpy scalars in the slicing spec, its slices are numpy's, edge for edge."""
    ev = random_stream(1500, W, H, seed=9)
    t = ev["t"].astype(t_dtype)
    specs = SLICINGS + [dict(time_window=7_000.5, overlap=0.25), dict(time_window=9_999, start_time=1.5e3, end_time=np.float32(9e4)),
                        dict(n_time_bins=3.0), dict(time_window=np.int64(4_000), start_time=np.int64(-7))]
    for kw in specs:
        if t.dtype.kind == "u" and kw.get("start_time", 0) < 0:
            continue  # numpy wraps the unsigned duration (and warns): not a spec anyone uses
        with np.errstate(over="ignore"):  # unsigned (duration - window) wraps in numpy, in both calls alike
            want = F.slice_bounds(t, **kw)
            got = F.slice_bounds(t, search=F.search_windows, **kw)
        for g, w_ in zip(got, want):
            assert g.dtype == np.int64, kw
            np.testing.assert_array_equal(g, w_, err_msg=str(kw))

def test_slice_bounds_match_tonic_slicers():
    ev = random_stream(1500, W, H, seed=9)
    for kw in SLICINGS:
        starts, ends = F.slice_bounds(ev["t"], **kw)
        if "n_time_bins" in kw:
            meta = tonic.slicers.SliceByTimeBins(bin_count=kw["n_time_bins"], overlap=kw.get("overlap", 0)).get_slice_metadata(ev, 0)
        elif "n_event_bins" in kw:
            meta = tonic.slicers.SliceByEventBins(bin_count=kw["n_event_bins"], overlap=kw.get("overlap", 0)).get_slice_metadata(ev, 0)
        elif "event_count" in kw:
            meta = tonic.slicers.SliceByEventCount(**kw).get_slice_metadata(ev, 0)
        else:
            meta = tonic.slicers.SliceByTime(**kw).get_slice_metadata(ev, 0)
        got = [len(ev[s:e]) for s, e in zip(starts, ends)]
        want = [len(ev[s:e]) for s, e in meta]
        assert got == want, kw


def test_events_exactly_on_window_edges_go_to_the_later_window():
    t = np.array([0, 10, 10, 20, 29, 30, 40])
    ev = make_events(t, np.arange(7) % W, np.zeros(7), np.ones(7))
    ref = tonic_frames(ev, time_window=10, include_incomplete=True)
    ours = ToFrame(SENSOR, time_window=10, include_incomplete=True)(ev)
    np.testing.assert_array_equal(ours, ref)
    # [0,10) [10,20) [20,30) [30,40): a duration of exactly 4 windows gives 4 slices, so tonic (and
    # eventar, for parity) leaves the event at t = 40 out even with include_incomplete
    assert ours.sum(axis=(1, 2, 3)).tolist() == [1, 2, 2, 1]


def test_only_counted_events_are_checked_the_same_way_by_every_backend():
    ev = random_stream(200, W, H, seed=14)
    ev["x"][-1] = W + 5  # the last event: tonic's n_time_bins never counts it
    for backend in ("ref", "numba"):
        out = to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, n_time_bins=4, backend=backend)
        assert out.sum() == len(ev) - 1
        with pytest.raises(EventValidationError, match=f"event {len(ev) - 1}:"):
            to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, n_time_bins=4, include_last=True, backend=backend)


@pytest.mark.parametrize("kw", [dict(n_time_bins=7), dict(time_window=3333.3, overlap=100.5), dict(n_event_bins=5, overlap=0.5)],
                         ids=str)
def test_float_timestamps_follow_tonic_too(kw):
    rng = np.random.default_rng(15)
    ev = np.zeros(3000, [("x", "<i2"), ("y", "<i2"), ("t", "<f8"), ("p", "?")])
    ev["t"] = np.sort(rng.uniform(0, 1e5, 3000))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, W, 3000), rng.integers(0, H, 3000), rng.integers(0, 2, 3000)
    np.testing.assert_array_equal(ToFrame(SENSOR, **kw)(ev), tonic_frames(ev, **kw))


def _layouts(ev):
    """The same events as the numba kernel's three input forms: fields of the tonic struct (a
    C-contiguous record view), every other record of it (a strided record view) and separate
    contiguous columns (a named tuple)."""
    wide = np.zeros(2 * len(ev), ev.dtype)
    wide[::2] = ev
    return {
        "struct": ev,
        "strided-struct": wide[::2],
        "columns": {f: np.ascontiguousarray(ev[f]) for f in "txyp"},
    }


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 31, 1000, 1001])
@pytest.mark.parametrize("kw", [dict(n_time_bins=7), dict(n_event_bins=3, overlap=0.5), dict(event_count=3)], ids=str)
def test_numba_kernel_equals_reference_for_every_input_layout_and_odd_slice_lengths(n, kw):
    """Slices of odd and even length exercise the two-events-per-step loop and its tail."""
    ev = random_stream(n, W, H, seed=n)
    ref = to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, backend="ref", **kw)
    for name, cols in _layouts(ev).items():
        got = to_frame(cols["t"], cols["x"], cols["y"], cols["p"], SENSOR, backend="numba", **kw)
        np.testing.assert_array_equal(got, ref, err_msg=name)
        one = to_frame(cols["t"], cols["x"], cols["y"], cols["p"], (W, H, 1), backend="numba", **kw)
        np.testing.assert_array_equal(one[:, 0], ref.sum(axis=1), err_msg=name)


@pytest.mark.parametrize("where", [0, 1, 2, 3, 998, 999])
@pytest.mark.parametrize("value", [("x", W), ("y", H), ("x", -1), ("y", -32768)], ids=str)
def test_first_out_of_sensor_event_is_named_wherever_it_falls_in_a_step(where, value):
    ev = random_stream(1000, W, H, seed=16)
    field, v = value
    ev[field][where] = v
    ev[field][where + 1:][::97] = v  # later bad events must not be the one reported
    for name, cols in _layouts(ev).items():
        for backend in ("ref", "numba"):
            with pytest.raises(EventValidationError, match=f"event {where}: "):
                to_frame(cols["t"], cols["x"], cols["y"], cols["p"], SENSOR, n_event_bins=2, include_last=True,
                         overlap=0.5, backend=backend)


def test_numba_kernel_reads_but_never_writes_its_input_and_rejects_ragged_columns():
    ev = random_stream(500, W, H, seed=17)
    snap = ev.copy()
    ev.flags.writeable = False  # the record view is read-only too: a write would raise
    s, e = F.slice_bounds(ev["t"], n_time_bins=4)
    out = F.to_frame_numba(ev["x"], ev["y"], ev["p"], s, e, SENSOR)
    np.testing.assert_array_equal(out, F.to_frame_ref(ev["x"], ev["y"], ev["p"], s, e, SENSOR))
    np.testing.assert_array_equal(ev, snap)
    with pytest.raises(EventValidationError, match="one length"):
        F.to_frame_numba(ev["x"], ev["y"][:-1], ev["p"], s, e, SENSOR)


def test_kernel_zeroes_every_slice_itself_including_empty_ones():
    """to_frame_numba hands the kernel np.empty memory: every slice, counted or empty, must come
    back holding exactly its counts whatever the memory held before."""
    ev = random_stream(3000, W, H, seed=22)
    s, e = F.slice_bounds(ev["t"], time_window=10_000, start_time=-30_000, end_time=150_000)
    assert (s == e).sum() >= 3  # slices before and after the stream are empty
    want = F.to_frame_ref(ev["x"], ev["y"], ev["p"], s, e, SENSOR)
    dirty = np.full(want.shape, 12345, np.int32)
    bad = F._frames_kernel(F.frames_source(ev["x"], ev["y"], ev["p"]), s, e, dirty, True)
    assert bad == -1
    np.testing.assert_array_equal(dirty, want)


def _eventar_copy(ev):
    from eventar.events import EVENT_DTYPE

    mine = np.zeros(len(ev), EVENT_DTYPE)
    for f in "txyp":
        mine[f] = ev[f]
    return mine


@pytest.mark.parametrize("dtype", ["tonic", "eventar"])
def test_record_fast_path_general_path_and_columns_give_the_same_frames_and_never_alias(dtype):
    """Whole structured arrays take _records' fast path; slices, strided views and separate
    columns the general one or a tuple: every form counts the same frames, in fresh memory."""
    from eventar.kernels import _records as R

    ev = random_stream(1001, W, H, seed=23)
    ev = _eventar_copy(ev) if dtype == "eventar" else ev
    want = to_frame(ev["t"], ev["x"], ev["y"], ev["p"], SENSOR, backend="ref", n_time_bins=5)
    cols = (ev["x"], ev["y"], ev["p"])
    fast = R._whole_records(cols, "xyp")
    general = R._rebuilt_records(cols, "xyp", len(ev), ev.itemsize)
    assert fast is not None and fast.dtype == general.dtype and fast.strides == general.strides
    s, e = F.slice_bounds(ev["t"], n_time_bins=5)
    for src in (fast, general, R.XYP(*(np.ascontiguousarray(c) for c in cols))):
        out = np.empty_like(want)
        assert F._frames_kernel(src, s, e, out, True) == -1
        np.testing.assert_array_equal(out, want)
    wide = np.zeros(2 * len(ev), ev.dtype)
    wide[::2] = ev
    part = np.concatenate([ev[:1], ev])[1:]  # a slice of a longer array: the general path
    assert R._whole_records((part["x"], part["y"], part["p"]), "xyp") is None
    forms = {"whole": ev, "sliced": part, "strided": wide[::2],
             "columns": {f: np.ascontiguousarray(ev[f]) for f in "txyp"}}
    for name, c in forms.items():
        got = to_frame(c["t"], c["x"], c["y"], c["p"], SENSOR, n_time_bins=5, backend="numba")
        np.testing.assert_array_equal(got, want, err_msg=name)
        if isinstance(c, np.ndarray):
            assert not np.shares_memory(got, c), name
            got[...] = 7  # writing the frames leaves the events alone
            np.testing.assert_array_equal(c["x"], ev["x"], err_msg=name)
    np.testing.assert_array_equal(ToFrame(SENSOR, n_time_bins=5)(ev), want)


@pytest.mark.parametrize("values", ["float", "int"])
def test_lower_bounds_equal_numpy_searchsorted_on_strided_time(values):
    ev = random_stream(500, W, H, seed=24)
    t = ev["t"][::3]  # strided, with ties
    edges = np.concatenate([[-5, t[0], t[7]], np.unique(t)[::11], [t[-1], t[-1] + 1, 10**9]])
    ws = edges + 0.5 if values == "float" else edges
    we = ws[::-1].copy()
    starts, ends = F.lower_bounds(t, ws, we)
    np.testing.assert_array_equal(starts, np.searchsorted(t, ws, "left"))
    np.testing.assert_array_equal(ends, np.searchsorted(t, we, "left"))
    empty = F.lower_bounds(np.zeros(0, np.int64), ws, we)
    assert (empty[0] == 0).all() and (empty[1] == 0).all()


@settings(max_examples=200, deadline=None)
@given(t=st.lists(st.integers(-50, 50), min_size=0, max_size=40).map(sorted),
       queries=st.lists(st.floats(-60, 60, allow_nan=False) | st.integers(-60, 60), min_size=0, max_size=12),
       step=st.integers(1, 3))
def test_lower_bounds_are_searchsorted_left_for_any_sorted_stream(t, queries, step):
    """The level-synchronous branch-free search answers what np.searchsorted(·, 'left') answers:
    every length (its halving must not skip an index), ties, queries below / above / on values,
    integer and float queries, strided time."""
    t = np.repeat(np.asarray(t, np.int64), step)[::step]  # a strided view of the same values
    ws = np.asarray([float(q) for q in queries])
    we = np.asarray([int(q) for q in queries], np.int64)
    starts, ends = F.lower_bounds(t, ws, we)
    np.testing.assert_array_equal(starts, np.searchsorted(t, ws, "left"))
    np.testing.assert_array_equal(ends, np.searchsorted(t, we, "left"))
