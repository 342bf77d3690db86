"""Frame-clip inputs (count_frames, afe_frames): hand-computed counts, bins, augmentation, errors."""

from __future__ import annotations

import numpy as np
import pytest

from eventar.errors import ConfigError
from eventar.events import make_events
from eventar.train.inputs import build_input
from eventar.train.inputs_frames import count_frame_clip


def test_count_frames_golden():
    # 4 bins over t in [0, 400]: bin k covers [100k, 100(k+1)), the last event goes to the last bin
    ev = make_events(t=[0, 99, 100, 250, 399, 400], x=[0, 1, 2, 3, 7, 7], y=[0, 0, 1, 1, 7, 6],
                     p=[1, 0, 1, 1, 0, 1])
    clip = count_frame_clip(ev, (8, 8, 2), frames=4, downsample=2)
    assert clip.shape == (4, 2, 4, 4) and clip.dtype == np.float32
    expect = np.zeros_like(clip)
    expect[0, 1, 0, 0] += 1  # t 0, ON, (0, 0)
    expect[0, 0, 0, 0] += 1  # t 99, OFF, x 1 -> block 0
    expect[1, 1, 0, 1] += 1  # t 100, ON, x 2 y 1 -> block (0, 1)
    expect[2, 1, 0, 1] += 1  # t 250
    expect[3, 0, 3, 3] += 1  # t 399, OFF
    expect[3, 1, 3, 3] += 1  # t 400, ON, last event in the last bin
    np.testing.assert_array_equal(clip, expect)
    assert clip.sum() == len(ev)
    np.testing.assert_allclose(count_frame_clip(ev, (8, 8, 2), 4, 2, log1p=True), np.log1p(expect))
    assert count_frame_clip(ev[:0], (8, 8, 2), 4, 2).sum() == 0


def test_count_frames_input_spec_and_flip():
    spec = build_input("count_frames", frames=3, downsample=4)
    ev = make_events(t=[0, 10, 20], x=[0, 5, 127], y=[0, 9, 127], p=[1, 1, 0])
    x = spec.prepare(ev, (128, 128, 2))
    assert x.shape == (1, 3, 2, 32, 32) and x.sum() == 3
    assert spec.augment is None  # no flip by default: mirror-image classes exist
    flip = build_input("count_frames", frames=3, downsample=4, flip_p=1.0)
    sample = x[0]
    np.testing.assert_array_equal(flip.augment(sample, np.random.default_rng(0)), sample[..., ::-1])
    assert spec.cache_key != build_input("count_frames", frames=4, downsample=4).cache_key
    with pytest.raises(ConfigError):
        build_input("count_frames", frames=0)
    with pytest.raises(ConfigError):
        build_input("count_frames", flip_p=2.0)


def test_afe_frames_shape_and_range():
    rng = np.random.default_rng(0)
    n = 40_000
    ev = make_events(t=np.sort(rng.integers(0, 1_000_000, n)), x=rng.integers(0, 128, n),
                     y=rng.integers(0, 128, n), p=rng.integers(0, 2, n))
    spec = build_input("afe_frames", frames=4, preset="dvsgesture", mode="rgb", size=32)
    x = spec.prepare(ev, (128, 128, 2))
    assert x.shape == (1, 4, 3, 32, 32) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0


def test_count_frames_equal_eventar_frames_of_the_block_grid():
    """The clip is ToFrame(n_time_bins, include_last=True) of the downsampled events (one binning
    rule in the package); pixels past the last whole block are dropped, every other event counts once."""
    from eventar.transforms import ToFrame

    rng = np.random.default_rng(5)
    n = 3000
    ev = make_events(t=np.sort(rng.integers(0, 1_000_000, n)), x=rng.integers(0, 35, n), y=rng.integers(0, 22, n),
                     p=rng.integers(0, 2, n))
    clip = count_frame_clip(ev, (35, 22, 2), frames=6, downsample=4)  # 8 x 5 blocks; x >= 32, y >= 20 dropped
    keep = (ev["x"] < 32) & (ev["y"] < 20)
    small = ev[keep].copy()
    small["x"] //= 4
    small["y"] //= 4
    want = ToFrame((8, 5, 2), n_time_bins=6, include_last=True)(small)
    np.testing.assert_array_equal(clip, want.astype(np.float32))
    assert clip.sum() == keep.sum()
