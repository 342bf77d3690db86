"""Event-drop augmentations: fractions dropped, channels, ramp direction, no input mutation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventar.transforms.augment import EventDrop, PolarityDrop, RandomDrop, RectangleDrop, TemporalDrop, ValueDrop


def clip(t=16, c=3, s=64, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.poisson(2.0, size=(t, c, s, s)).astype(np.float32)
    out[:, 2] = 0
    return out


def test_value_drop_zeroes_below_threshold_only():
    x = np.array([0.2, 0.99, 1.0, 3.0], np.float32).reshape(1, 1, 2, 2)
    assert ValueDrop(1.0)(x).ravel().tolist() == [0, 0, 1, 3]


@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.15])
def test_random_drop_fraction(ratio):
    x = np.ones((4, 2, 128, 128), np.float32)
    y = RandomDrop(ratio=ratio, seed=1)(x)
    frac = 1 - y.mean()
    assert frac == pytest.approx(ratio, abs=0.01)
    # the same mask for every frame
    assert all(np.array_equal(y[0], y[i]) for i in range(4))


def test_temporal_drop_ramp_direction():
    x = np.ones((16, 2, 96, 96), np.float32)
    fwd = 1 - TemporalDrop(0.35, reverse=False, seed=0)(x).mean(axis=(1, 2, 3))
    rev = 1 - TemporalDrop(0.35, reverse=True, seed=0)(x).mean(axis=(1, 2, 3))
    assert fwd[0] == 0 and fwd[-1] == pytest.approx(0.35, abs=0.02)
    assert np.all(np.diff(fwd) >= 0) and np.all(np.diff(rev) <= 0)
    assert rev[0] == pytest.approx(0.35, abs=0.02) and rev[-1] == 0


def test_rectangle_drop_sizes():
    x = np.ones((2, 3, 60, 60), np.float32)
    y = RectangleDrop(n=1, seed=3)(x)
    zero = y[0, 0] == 0
    rows, cols = np.nonzero(zero.any(1))[0], np.nonzero(zero.any(0))[0]
    assert 10 <= len(rows) <= 12 and 10 <= len(cols) <= 12  # 60/6 .. 60/5
    assert np.array_equal(y[0], y[1]) and np.all((y[0] == 0) == zero[None])


@pytest.mark.parametrize("channel", [0, 1])
def test_polarity_drop_channel(channel):
    x = clip()
    y = PolarityDrop(channel)(x)
    assert np.all(y[:, channel] == 0)
    other = 1 - channel
    assert np.array_equal(y[:, other], x[:, other])


def test_event_drop_dvs_preset_only_random_drop():
    x = clip()
    changed = 0
    for seed in range(200):
        y = EventDrop("dvs")(x, np.random.default_rng(seed))
        if not np.array_equal(y, x):
            changed += 1
            # only pixels that were non-zero may change, and only to zero; channels keep their other values
            assert np.all((y == x) | (y == 0))
            # polarity channels are never wholly dropped by the DVS preset
            assert y[:, 0].sum() > 0 and y[:, 1].sum() > 0
    # p = 0.5 × P(0.6 < r3 ≤ 0.8) = 0.1, minus draws of ρ = 0
    assert 5 <= changed <= 40


def test_event_drop_unknown_preset():
    with pytest.raises(ValueError, match="preset"):
        EventDrop("nope")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), preset=st.sampled_from(["dvs", "nek"]))
def test_no_input_mutation_and_only_zeroing(seed, preset):
    x = clip(t=10, s=24, seed=seed % 7)
    before = x.copy()
    for tf in (ValueDrop(), RandomDrop(seed=seed), TemporalDrop(seed=seed), RectangleDrop(seed=seed), PolarityDrop(seed=seed), EventDrop(preset, seed=seed)):
        y = tf(x)
        assert np.array_equal(x, before)
        assert y.shape == x.shape and y is not x
        assert np.all((y == x) | (y == 0))
