"""Parity with tonic on the real recordings in ../shared/data/real (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest
import tonic

from eventar.io import read_events
from eventar.kernels.frames import slice_bounds
from eventar.transforms import ToFrame, ToPointCloud, ToVoxelGrid


def _recordings(real_dir, expected):
    found = []
    for rel, info in sorted(expected.items()):
        if not info.get("n_events"):
            continue
        found.append((rel, read_events(real_dir / rel)))  # every format has a reader: a failure is a bug
    return found


def _as_tonic(ev, p_dtype):
    out = np.zeros(len(ev), [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", p_dtype)])
    for f in ("t", "x", "y"):
        out[f] = ev[f]
    out["p"] = ev["p"]
    return out


@pytest.mark.parametrize("kw", [dict(n_time_bins=16), dict(n_event_bins=10, overlap=0.25), dict(time_window=50_000),
                                dict(event_count=20_000, overlap=5000, include_incomplete=True)], ids=str)
def test_frames_equal_tonic_on_real_recordings(real_dir, expected, kw):
    for rel, rec in _recordings(real_dir, expected):
        ev = rec.events
        if (np.diff(ev["t"]) < 0).any():
            continue  # tonic's slicing assumes sorted time, as does ours
        if len(slice_bounds(ev["t"], **kw)[0]) * rec.width * rec.height > 2e8:
            continue  # keep memory small (tonic allocates every frame)
        tev = _as_tonic(ev, "?")
        ref = tonic.transforms.ToFrame(sensor_size=rec.sensor_size, **kw)(tev)
        ours = ToFrame(sensor_size=rec.sensor_size, **kw)(ev)
        assert ours.shape == ref.shape, rel
        np.testing.assert_array_equal(ours, ref, err_msg=rel)


def test_voxel_equal_tonic_and_point_clouds_well_formed_on_real_recordings(real_dir, expected):
    for rel, rec in _recordings(real_dir, expected):
        ev = rec.events
        if (np.diff(ev["t"]) < 0).any() or ev["t"][-1] == ev["t"][0]:
            continue
        ref = tonic.transforms.ToVoxelGrid(sensor_size=rec.sensor_size, n_time_bins=10)(_as_tonic(ev, "i1"))
        np.testing.assert_array_equal(ToVoxelGrid(rec.sensor_size, 10)(ev), ref, err_msg=rel)
        span = int(ev["t"][-1] - ev["t"][0])
        pts = ToPointCloud(rec.sensor_size, window_us=max(span // 3, 1), step_us=max(span // 6, 1), n_points=256,
                           min_events=1)(ev)
        assert pts.shape[0] >= 1 and pts.shape[1:] == (256, 3), rel
        assert (pts >= 0).all() and (pts[..., :2] < 1).all() and (pts[..., 2] <= 1).all(), rel
