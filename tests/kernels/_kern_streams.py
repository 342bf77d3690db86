"""Event streams shared by the kernel tests (module name kept unique: pytest prepend import mode)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

TONIC_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
TONIC_INT8_P = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "i1")])


def random_stream(n, width=32, height=24, duration_us=100_000, seed=0, dtype=TONIC_DTYPE, ties=True):
    """(n,) structured stream, sorted t in [0, duration), uniform pixels and polarities."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=dtype)
    t = np.sort(rng.integers(0, duration_us, n))
    if ties and n > 4:
        t[n // 2] = t[n // 2 - 1]  # at least one tie
    ev["t"] = t
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n).astype(dtype["p"])
    return ev


@st.composite
def streams(draw, width=6, height=5, max_events=60, dtype=TONIC_DTYPE, min_events=0):
    """Hypothesis streams: empty, single events, ties, long gaps, events exactly on bin edges."""
    n = draw(st.integers(min_events, max_events))
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 1, 2, 3, 10, 100, 1000, 50_000]), min_size=n, max_size=n))
    t0 = draw(st.integers(0, 10_000))
    t = t0 + np.cumsum(np.asarray(gaps, np.int64)) if n else np.zeros(0, np.int64)
    ev = np.zeros(n, dtype=dtype)
    ev["t"] = t
    ev["x"] = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    ev["p"] = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int64).astype(dtype["p"])
    return ev
