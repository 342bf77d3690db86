"""AFE frames: opening/score golden values, numba == numpy, segmentation rules, frame selection, rendering."""

from __future__ import annotations

import numpy as np
import pytest

from eventar.errors import ConfigError
from eventar.events import make_events
from eventar.kernels import afe as A
from eventar.transforms import ToAFEFrames


def test_opening_removes_isolated_pixels_and_keeps_blocks():
    img = np.zeros((1, 6, 6), np.int64)
    img[0, 0, 5] = 9  # isolated: eroded away
    img[0, 2:4, 1:3] = 4  # a 2x2 block survives the 2x2 opening
    opened = A._open2x2_ref(img)
    assert opened[0, 0, 5] == 0
    np.testing.assert_array_equal(opened[0, 2:4, 1:3], 4)
    assert opened.sum() == 16


def test_absolute_image_numba_equals_numpy_reference():
    rng = np.random.default_rng(0)
    n = 20_000
    x, y, p = rng.integers(0, 40, n), rng.integers(0, 30, n), rng.integers(0, 2, n).astype(np.uint8)
    x[:5000] = rng.integers(0, 5, 5000)  # a dense blob so the opening keeps something
    np.testing.assert_array_equal(A.absolute_image_numba(x, y, p, 40, 30), A.absolute_image_ref(x, y, p, 40, 30))
    np.testing.assert_array_equal(A.opened_counts(x, y, p, 40, 30, 100, 9000, backend="numba"),
                                  A.opened_counts(x, y, p, 40, 30, 100, 9000, backend="ref"))


def _moving_blob(n, width=64, height=48, seed=0):
    rng = np.random.default_rng(seed)
    frac = np.arange(n) / n
    cx = (5 + frac * (width - 15)).astype(np.int64)  # blob sweeps left to right
    x = np.clip(cx + rng.integers(0, 6, n), 0, width - 1)
    y = rng.integers(20, 26, n)
    return make_events(np.arange(n) * 10, x, y, rng.integers(0, 2, n))


def test_segments_cover_the_stream_in_order_and_obey_the_rules():
    ev = _moving_blob(40_000)
    for backend in ("numba", "ref"):
        segs = A.afe_segments(ev["x"], ev["y"], ev["p"], 64, 48, threshold=30, min_events=2000, backend=backend)
        assert segs[0][0] == 0 and segs[-1][1] == len(ev)
        assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))
        assert len(segs) > 2  # the blob moves: halves differ, the stream is split
        # a segment is only ever split while its half is larger than min_events
        assert min(e - s for s, e in segs) >= 2000 // 2
    assert segs == A.afe_segments(ev["x"], ev["y"], ev["p"], 64, 48, threshold=30, min_events=2000)
    # a huge threshold keeps the whole stream as one frame; threshold 0 splits down to the minimum
    assert A.afe_segments(ev["x"], ev["y"], ev["p"], 64, 48, threshold=1e9, min_events=2000) == [(0, len(ev))]
    fine = A.afe_segments(ev["x"], ev["y"], ev["p"], 64, 48, threshold=0, min_events=5000)
    assert len(fine) == 8 and {e - s for s, e in fine} == {5000}


def test_score_formula_on_a_hand_built_stream():
    # first half: 4 events on a 2x2 block; second half: the same block -> score 0 -> one frame
    same = make_events(np.arange(8), [1, 2, 1, 2] * 2, [1, 1, 2, 2] * 2, [1] * 8)
    assert A.afe_segments(same["x"], same["y"], same["p"], 8, 8, threshold=0, min_events=1) == [(0, 8)]
    # moved block: |img1 - img2| sums to 8 -> score = 200 * 8 / 8 = 200 -> split at threshold 199, not 200
    moved = make_events(np.arange(8), [1, 2, 1, 2, 5, 6, 5, 6], [1, 1, 2, 2] * 2, [1] * 8)
    assert A.afe_segments(moved["x"], moved["y"], moved["p"], 8, 8, threshold=200, min_events=1) == [(0, 8)]
    assert A.afe_segments(moved["x"], moved["y"], moved["p"], 8, 8, threshold=199, min_events=4) == [(0, 4), (4, 8)]


def test_select_frames_uniform_with_ends_kept_and_repeats_when_short():
    assert A.select_frames(20, 8).tolist() == [0, 3, 5, 8, 11, 14, 16, 19]
    assert A.select_frames(5, 8).tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    assert A.select_frames(8, 8).tolist() == list(range(8))
    assert A.select_frames(7, 1).tolist() == [3]
    with pytest.raises(ConfigError):
        A.select_frames(4, 0)


def test_render_gray_and_rgb_golden_values():
    counts = np.zeros((2, 1, 4), np.int64)
    counts[1, 0, 1] = 1  # ON only
    counts[0, 0, 2] = 1  # OFF only
    counts[:, 0, 3] = 1  # both
    assert A.render(counts, "gray")[0, 0].tolist() == [0, 127, 127, 254]
    rgb = A.render(counts, "rgb")[:, 0]
    assert rgb.T.tolist() == [[255, 255, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]]
    with pytest.raises(ConfigError, match="mode"):
        A.render(counts, "hsv")


def test_resize_bilinear_half_pixel_centres():
    img = np.array([[[0, 100], [200, 255]]], np.uint8)
    assert A.resize_bilinear(img, (1, 1)).tolist() == [[[139]]]  # mean 138.75 rounded
    up = A.resize_bilinear(img, (4, 4))
    assert up[0, 0, 0] == 0 and up[0, -1, -1] == 255 and up.dtype == np.uint8


def test_transform_shapes_presets_and_no_mutation():
    ev = _moving_blob(60_000)
    snap = ev.copy()
    gray = ToAFEFrames((64, 48, 2), preset="dvsgesture", n_frames=8)(ev)
    rgb = ToAFEFrames((64, 48, 2), preset="dvsgesture", n_frames=16, mode="rgb", out_size=(32, 32))(ev)
    np.testing.assert_array_equal(ev, snap)
    assert gray.shape == (8, 1, 48, 64) and gray.dtype == np.uint8
    assert rgb.shape == (16, 3, 32, 32)
    assert not np.array_equal(gray[0], gray[-1])  # the blob moved between the first and last frame
    empty = ToAFEFrames((64, 48, 2), mode="rgb")(ev[:0])
    assert empty.shape == (8, 3, 48, 64) and (empty == 255).all()
    with pytest.raises(ConfigError, match="preset"):
        ToAFEFrames((64, 48, 2), preset="nope")(ev)
    assert A.AFE_PRESETS["hardvs"] == (150_000, 0.0)


def test_afe_follows_the_dispatcher(monkeypatch):
    ev = _moving_blob(30_000)
    out = {}
    for backend in ("ref", "numba"):
        monkeypatch.setenv("EVENTAR_KERNELS", backend)
        out[backend] = ToAFEFrames((64, 48, 2), min_events=2000, n_frames=6, mode="rgb")(ev)
    np.testing.assert_array_equal(out["ref"], out["numba"])
    assert len(np.unique(out["numba"].reshape(6, -1), axis=0)) > 1
