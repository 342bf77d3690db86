"""SpikePoint point clouds: window bounds vs a plain loop, sampler properties, reference == numba."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventar.errors import ConfigError, EventValidationError
from eventar.events import make_events
from eventar.kernels import point_cloud_windows
from eventar.kernels import pointcloud as PC
from eventar.transforms import ToPointCloud, point_cloud_batch

SENSOR = (128, 96, 2)


def stream(n, duration_us, seed=0, width=128, height=96):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, duration_us, n)), rng.integers(0, width, n), rng.integers(0, height, n),
                       rng.integers(0, 2, n))


def loop_windows(t, window, step, min_events):
    """The published style: walk window starts one by one (the semantics the docs state)."""
    out = []
    if len(t) == 0:
        return out
    start = t[0]
    first = True
    while start + window < t[-1] or first:
        lo = int(np.searchsorted(t, start, "left"))
        hi = int(np.searchsorted(t, start + window, "left"))
        if hi - lo >= min_events:
            out.append((lo, hi, start))
        first = False
        start += step
    return out


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 400), min_size=1, max_size=5), window=st.sampled_from([1000, 5000, 20_000]),
       step=st.sampled_from([500, 2500, 20_000]), min_events=st.integers(0, 30), seed=st.integers(0, 99))
def test_window_bounds_match_a_plain_loop_over_every_stream(lengths, window, step, min_events, seed):
    parts = [np.sort(np.random.default_rng(seed + i).integers(0, 60_000, n)) + 1000 * i for i, n in enumerate(lengths)]
    t = np.concatenate(parts).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    wins = PC.window_bounds(t, offsets, window, step, min_events)
    want = []
    for b, part in enumerate(parts):
        want += [(lo + offsets[b], hi + offsets[b], s, b) for lo, hi, s in loop_windows(part, window, step, min_events)]
    got = list(zip(wins.start.tolist(), wins.end.tolist(), wins.t_start.tolist(), wins.recording.tolist()))
    assert got == [tuple(int(v) for v in w) for w in want]
    ref = PC.window_bounds(t, offsets, window, step, min_events, use_numba=False)
    for a, b in zip(wins, ref):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_points", [1, 16, 64, 300])
def test_numba_sampler_equals_reference_exactly(n_points):
    ev = stream(5000, 200_000, seed=n_points)
    offsets = np.array([0, 1200, 1200, 5000])
    a, wa = point_cloud_windows(ev["t"], ev["x"], ev["y"], offsets, SENSOR, window_us=30_000, step_us=10_000,
                                n_points=n_points, min_events=5, seed=7, backend="ref")
    b, wb = point_cloud_windows(ev["t"], ev["x"], ev["y"], offsets, SENSOR, window_us=30_000, step_us=10_000,
                                n_points=n_points, min_events=5, seed=7, backend="numba")
    assert len(a) > 5 and set(wa.recording.tolist()) == {0, 2}  # stream 1 is empty: no window
    np.testing.assert_array_equal(a, b)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_without_replacement_points_are_distinct_events_in_time_order():
    n = 4000
    t = np.arange(n, dtype=np.int64) * 10  # distinct times: each point identifies its event
    ev = make_events(t, np.arange(n) % 128, (np.arange(n) // 128) % 96, np.ones(n))
    pts, wins = point_cloud_windows(ev["t"], ev["x"], ev["y"], np.array([0, n]), SENSOR, window_us=8000,
                                    step_us=4000, n_points=256, min_events=1, seed=3)
    assert pts.dtype == np.float32 and pts.shape == (len(wins.start), 256, 3)
    for w in range(len(pts)):
        lo, hi = wins.start[w], wins.end[w]
        x = np.rint(pts[w, :, 0] * 128).astype(np.int64)
        y = np.rint(pts[w, :, 1] * 96).astype(np.int64)
        idx = (y * 128 + x)  # = event index modulo 128*96 (windows hold < 12288 events)
        idx = lo + (idx - lo) % (128 * 96)
        assert (np.diff(idx) > 0).all(), "distinct and in time order"
        assert idx.min() >= lo and idx.max() < hi
        tt = pts[w, :, 2]
        assert tt[0] == 0.0 and tt[-1] == 1.0 and (np.diff(tt) > 0).all()


def test_short_windows_are_sampled_with_replacement_in_time_order():
    ev = make_events(np.arange(10) * 100, np.arange(10), np.zeros(10), np.ones(10))
    pts, _ = point_cloud_windows(ev["t"], ev["x"], ev["y"], np.array([0, 10]), SENSOR, window_us=5000, step_us=5000,
                                 n_points=64, min_events=1, seed=0)
    x = np.rint(pts[0, :, 0] * 128)
    assert pts.shape == (1, 64, 3)
    assert (np.diff(x) >= 0).all() and len(np.unique(x)) < 64 and set(np.unique(x)) <= set(range(10))
    counts = np.bincount(x.astype(int), minlength=10)
    assert counts.sum() == 64 and (counts > 0).sum() >= 7  # uniform draws cover most of 10 events


def test_sampling_is_uniform_over_events():
    n = 1000
    ev = make_events(np.arange(n), np.arange(n) % 100, np.arange(n) // 100, np.ones(n))
    hits = np.zeros(n)
    for seed in range(40):
        pts, _ = point_cloud_windows(ev["t"], ev["x"], ev["y"], np.array([0, n]), SENSOR, window_us=10_000,
                                     step_us=10_000, n_points=100, min_events=1, seed=seed)
        idx = np.rint(pts[0, :, 1] * 96).astype(int) * 100 + np.rint(pts[0, :, 0] * 128).astype(int)
        assert len(np.unique(idx)) == 100
        hits[idx] += 1
    # 4000 draws over 1000 events: each event hit ~4 times; chi-square-like bound on halves/quarters
    quarters = hits.reshape(4, -1).sum(axis=1)
    assert np.all(np.abs(quarters - 1000) < 150)


def test_seed_determinism_and_seed_sensitivity():
    ev = stream(20_000, 2_000_000, seed=1)
    tf = ToPointCloud(SENSOR, window_us=500_000, step_us=250_000, n_points=512, min_events=101, seed=5)
    a, b = tf(ev), tf(ev)
    np.testing.assert_array_equal(a, b)
    c = ToPointCloud(SENSOR, window_us=500_000, step_us=250_000, n_points=512, min_events=101, seed=6)(ev)
    assert a.shape == c.shape and not np.array_equal(a, c)
    # t in [t0 ~ 0, t_last < 2 s): starts t0 + 0, 0.25, ..., 1.25 s (start + 0.5 s < t_last), not 1.5 s
    assert a.shape[0] == 6


def test_min_events_drops_sparse_windows_and_short_streams_keep_one_window():
    t = np.concatenate([np.arange(0, 100_000, 100), np.arange(900_000, 1_000_000, 10_000)])
    ev = make_events(t, np.zeros(len(t)), np.zeros(len(t)), np.ones(len(t)))
    pts, wins = ToPointCloud(SENSOR, window_us=100_000, step_us=100_000, n_points=8, min_events=50).windows(ev)
    assert wins.t_start.tolist() == [0]  # the other windows hold <= 10 events
    short = make_events([10, 20, 30], [1, 2, 3], [0, 0, 0], [1, 1, 1])
    pts, wins = ToPointCloud(SENSOR, window_us=500_000, step_us=250_000, n_points=4, min_events=1).windows(short)
    assert pts.shape == (1, 4, 3) and wins.start.tolist() == [0] and wins.end.tolist() == [3]


def test_batch_returns_the_window_to_recording_index_and_equals_per_recording_calls():
    evs = [stream(n, 3_000_000, seed=n) for n in (3000, 0, 5000)]
    cat = np.concatenate(evs)
    offsets = np.array([0, 3000, 3000, 8000])
    pts, rec = point_cloud_batch(cat, offsets, SENSOR, window_us=500_000, step_us=250_000, n_points=128,
                                 min_events=10, seed=1)
    assert pts.shape[0] == len(rec) and set(rec.tolist()) == {0, 2}
    assert (np.diff(rec) >= 0).all()
    single = ToPointCloud(SENSOR, window_us=500_000, step_us=250_000, n_points=128, min_events=10)(evs[0])
    assert single.shape[0] == (rec == 0).sum()


def test_input_not_modified_and_bad_parameters_raise():
    ev = stream(1000, 1_000_000)
    snap = ev.copy()
    ToPointCloud(SENSOR, n_points=32)(ev)
    np.testing.assert_array_equal(ev, snap)
    for kw in (dict(window_us=0), dict(step_us=-1), dict(n_points=0), dict(min_events=-1)):
        with pytest.raises(ConfigError):
            ToPointCloud(SENSOR, **kw)(ev)
    bad = ev.copy()
    bad["x"][:] = 500
    for backend in ("ref", "numba"):
        with pytest.raises(EventValidationError, match=r"event \d+: \(x, y\) = \(500, "):
            point_cloud_windows(bad["t"], bad["x"], bad["y"], np.array([0, len(bad)]), SENSOR, window_us=10**6,
                                step_us=10**6, n_points=32, min_events=1, backend=backend)
