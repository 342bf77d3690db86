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
from eventar.kernels import frames_cuda as FC  # noqa: E402
from eventar.kernels import pointcloud as PC  # noqa: E402
from eventar.kernels import voxel as V  # noqa: E402
from eventar.kernels import voxel_cuda as VC  # noqa: E402


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


def _unroll():
    from eventar.kernels import _tiles

    return _tiles.UNROLL


def check_frames(lengths, sensor, seed, tile=0, **kw):
    cols, off = ragged(lengths, sensor[0], sensor[1], seed)
    dcols, doff = device(cols, off)
    got = host(FC.to_frame_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, sensor, tile=tile, **kw))
    for b in range(len(lengths)):
        sl = slice(off[b], off[b + 1])
        if off[b + 1] == off[b]:
            assert not got[b].any(), "empty stream must give zero frames"
            continue
        s, e = F.slice_bounds(cols["t"][sl], **kw)
        want = F.to_frame_ref(cols["x"][sl], cols["y"][sl], cols["p"][sl], s, e, sensor)
        assert np.array_equal(got[b], want), (kw, b)
    print("ok frames", kw, "tile", tile, "unroll", _unroll(), flush=True)


def check_voxel(lengths, sensor, seed, n_bins, per_polarity, tile=0):
    cols, off = ragged(lengths, sensor[0], sensor[1], seed)
    dcols, doff = device(cols, off)
    got = host(VC.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, sensor, n_bins,
                                      per_polarity=per_polarity, tile=tile))
    for b in range(len(lengths)):
        sl = slice(off[b], off[b + 1])
        want = V.to_voxel_ref(cols["t"][sl], cols["x"][sl], cols["y"][sl], cols["p"][sl], sensor, n_bins, per_polarity)
        assert np.allclose(got[b], want, rtol=1e-12, atol=1e-9), (n_bins, per_polarity, b)
    print("ok voxel", n_bins, per_polarity, "tile", tile, "unroll", _unroll(), flush=True)


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
    for fn in (lambda: FC.to_frame_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), n_time_bins=2),
               lambda: FC.to_frame_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), n_time_bins=2,
                                              tile=20),
               lambda: VC.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), 2),
               lambda: VC.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), 2,
                                              tile=7)):
        try:
            fn()
        except EventValidationError as exc:
            assert "event 13" in str(exc), exc
        else:
            raise AssertionError("out-of-sensor event not reported")
    print("ok bad coordinates", flush=True)


def check_unsorted_voxel_stream():
    """The GPU voxel grid relies on time order; a stream out of order is an error, not a silent grid."""
    from eventar.errors import EventValidationError

    cols, off = ragged([12, 15], 8, 6, 2)
    cols["t"][12 + 3], cols["t"][12 + 9] = cols["t"][12 + 9] + 1, cols["t"][12 + 3]
    dcols, doff = device(cols, off)
    try:
        VC.to_voxel_cuda_batch(dcols["t"], dcols["x"], dcols["y"], dcols["p"], doff, (8, 6, 2), 4)
    except EventValidationError as exc:
        assert "not sorted" in str(exc), exc
    else:
        raise AssertionError("unsorted stream not reported")
    print("ok unsorted voxel stream", flush=True)


def main(scale: int) -> None:
    lengths = [40 * scale, 0, 1, 75 * scale, 9 * scale]
    sensor = (8, 6, 2)
    check_frames(lengths, sensor, 0, n_time_bins=4)
    check_frames(lengths, sensor, 1, n_time_bins=3, overlap=0.5, include_last=True)
    check_frames(lengths, sensor, 2, n_event_bins=5, overlap=0.2)
    check_frames([6 * scale, 30 * scale], (8, 6, 1), 3, n_time_bins=2)
    check_frames(lengths, sensor, 8, tile=20, n_time_bins=4)  # 96 counters in 5 tiles, the last one short
    check_frames(lengths, sensor, 9, tile=7, n_event_bins=3, overlap=0.5)
    check_voxel(lengths, sensor, 4, 3, False)
    check_voxel(lengths, sensor, 5, 4, True)
    check_voxel(lengths, sensor, 10, 5, True, tile=20)
    check_voxel(lengths, sensor, 11, 2, False, tile=13)
    check_points([60 * scale, 0, 200 * scale], sensor, 6, 16, 5000, 2500, 3)
    check_points([30 * scale], sensor, 7, 64, 50_000, 50_000, 1)  # short window: with replacement
    check_bad_coordinates()
    check_unsorted_voxel_stream()
    from eventar.kernels import _tiles

    keep = _tiles.UNROLL
    for unroll in (1, 3):  # other numbers of loads in flight per thread: the clamped tail of each range
        _tiles.UNROLL = unroll
        check_frames(lengths, sensor, 15 + unroll, n_time_bins=4, overlap=0.25)
        check_voxel(lengths, sensor, 17 + unroll, 3, True)
    _tiles.UNROLL = keep
    if REAL:  # sensors whose plane needs several shared-memory tiles even with the opt-in limit
        check_frames([500 * scale, 0, 37 * scale], (346, 260, 2), 12, n_time_bins=5)
        check_voxel([500 * scale, 3, 37 * scale], (640, 480, 2), 13, 3, False)
        check_voxel([200 * scale], (346, 260, 2), 14, 4, True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
