"""CUDA kernels vs their references, run by test_kern_cuda.py in a subprocess.

The numba CUDA simulator must be switched on before numba.cuda is first imported, so this runs in
its own interpreter with NUMBA_ENABLE_CUDASIM=1 (small inputs: the simulator runs every thread in
Python).  With EVENTAR_CUDA_REAL=1 and a GPU it runs the same checks on the device with torch
tensors and larger inputs.  Prints one 'ok <name>' line per check; any mismatch raises.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

# The simulator runs the kernels' wrapping uint64 arithmetic (splitmix64) on numpy scalars, in its
# own threads, where numpy reports the intended overflow; the warning is noise there.
warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)

REAL = os.environ.get("EVENTAR_CUDA_REAL") == "1"
if not REAL:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

from eventar.kernels import frames as F  # noqa: E402
from eventar.kernels import pointcloud as PC  # noqa: E402
from eventar.kernels import voxel as V  # noqa: E402


def ragged(lengths, width, height, seed):
    rng = np.random.default_rng(seed)
    parts = [np.sort(rng.integers(0, 50_000, n)) for n in lengths]
    n = sum(lengths)
    cols = dict(t=np.concatenate(parts).astype(np.int64) if n else np.zeros(0, np.int64),
                x=rng.integers(0, width, n).astype(np.int16), y=rng.integers(0, height, n).astype(np.int16),
                p=rng.integers(0, 2, n).astype(np.uint8))
    return cols, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def device(cols, offsets):
    if not REAL:
        return cols, offsets
    import torch

    return {k: torch.from_numpy(v).cuda() for k, v in cols.items()}, torch.from_numpy(offsets).cuda()


def host(a):
    return a.cpu().numpy() if hasattr(a, "cpu") else np.asarray(a)


def check_frames(lengths, sensor, seed, **kw):
    cols, off = ragged(lengths, sensor[0], sensor[1], seed)
    dcols, doff = device(cols, off)
    got = host(F.to_frame_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, sensor, **kw))
    for b in range(len(lengths)):
        sl = slice(off[b], off[b + 1])
        if off[b + 1] == off[b]:
            assert not got[b].any(), "empty stream must give zero frames"
            continue
        s, e = F.slice_bounds(cols["t"][sl], **kw)
        want = F.to_frame_ref(cols["x"][sl], cols["y"][sl], cols["p"][sl], s, e, sensor)
        assert np.array_equal(got[b], want), (kw, b)
    print("ok frames", kw, flush=True)


def check_voxel(lengths, sensor, seed, n_bins, per_polarity):
    cols, off = ragged(lengths, sensor[0], sensor[1], seed)
    dcols, doff = device(cols, off)
    got = host(V.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, sensor, n_bins,
                                     per_polarity=per_polarity))
    for b in range(len(lengths)):
        sl = slice(off[b], off[b + 1])
        want = V.to_voxel_ref(cols["t"][sl], cols["x"][sl], cols["y"][sl], cols["p"][sl], sensor, n_bins, per_polarity)
        assert np.allclose(got[b], want, rtol=1e-12, atol=1e-9), (n_bins, per_polarity, b)
    print("ok voxel", n_bins, per_polarity, flush=True)


def check_points(lengths, sensor, seed, n_points, window, step, min_events):
    cols, off = ragged(lengths, sensor[0], sensor[1], seed)
    wins = PC.window_bounds(cols["t"], off, window, step, min_events)
    dcols, doff = device(cols, off)
    dwins = PC.window_bounds_cuda(dcols["t"], doff, window, step, min_events)
    for a, b in zip(wins, dwins):
        assert np.array_equal(a, b), "window bounds differ on the device"
    got = host(PC.sample_cuda(dcols["t"], dcols["x"], dcols["y"], wins.start, wins.end, n_points, sensor[:2], seed))
    want = PC.sample_ref(cols["t"], cols["x"], cols["y"], wins.start, wins.end, n_points, sensor[:2], seed)
    assert len(wins.start) > 0 and np.array_equal(got, want), (n_points, window)
    print("ok points", n_points, len(wins.start), flush=True)


def check_bad_coordinates():
    from eventar.errors import EventValidationError

    cols, off = ragged([10, 10], 8, 6, 1)
    cols["x"][13] = 8
    dcols, doff = device(cols, off)
    for fn in (lambda: F.to_frame_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), n_time_bins=2),
               lambda: V.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), 2)):
        try:
            fn()
        except EventValidationError as exc:
            assert "event 13" in str(exc), exc
        else:
            raise AssertionError("out-of-sensor event not reported")
    print("ok bad coordinates", flush=True)


def main(scale: int) -> None:
    lengths = [40 * scale, 0, 1, 75 * scale, 9 * scale]
    sensor = (8, 6, 2)
    check_frames(lengths, sensor, 0, n_time_bins=4)
    check_frames(lengths, sensor, 1, n_time_bins=3, overlap=0.5, include_last=True)
    check_frames(lengths, sensor, 2, n_event_bins=5, overlap=0.2)
    check_frames([6 * scale, 30 * scale], (8, 6, 1), 3, n_time_bins=2)
    check_voxel(lengths, sensor, 4, 3, False)
    check_voxel(lengths, sensor, 5, 4, True)
    check_points([60 * scale, 0, 200 * scale], sensor, 6, 16, 5000, 2500, 3)
    check_points([30 * scale], sensor, 7, 64, 50_000, 50_000, 1)  # short window: with replacement
    check_bad_coordinates()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
