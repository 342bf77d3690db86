"""Representations on a CUDA GPU: a ragged batch of streams as torch CUDA tensors, against the
device's measured memory bandwidth, with parity against the CPU kernels on every stream.

    python benchmarks/bench_representations_gpu.py [--events 1e8 --streams 64 --repeats 20] [--write]

Input: B streams concatenated (int64 t at ~1 event/µs with ties, int16 x/y uniform on 128×128,
uint8 p), offsets (B+1,).  The bandwidth ceiling is a device-to-device copy of a 2 GiB buffer,
counting bytes read plus bytes written.  Each kernel's "bytes" are the fewest it must move: the
columns it reads once (frames: x, y, p; voxel grid: t, x, y, p) plus its output written once.
"% of bandwidth" = bytes / time / ceiling: issue 3 asks ≥ 50 % for frames and voxel grids on an
H100 with 64 streams totalling 1e8 events.  Times are medians of CUDA-event-timed runs after a
warm-up (the output allocation is inside the timed region, as a user calls it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_results_section  # noqa: E402

W, H = 128, 128
SENSOR = (W, H, 2)


def make_batch(total: int, n_streams: int, seed: int = 0):
    """Columns dict of torch CUDA tensors and (B+1,) int64 CUDA offsets; stream lengths differ by <= 1."""
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(seed)
    lengths = torch.full((n_streams,), total // n_streams, dtype=torch.int64)
    lengths[: total % n_streams] += 1
    offsets = torch.zeros(n_streams + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(lengths, 0)
    gaps = torch.poisson(torch.ones(total, device=dev), generator=gen).to(torch.int64)
    t = torch.cumsum(gaps, 0)
    starts = offsets[:-1].to(dev)
    t = t - torch.repeat_interleave(t[starts] - gaps[starts], lengths.to(dev))
    cols = {"t": t,
            "x": torch.randint(0, W, (total,), device=dev, generator=gen, dtype=torch.int16),
            "y": torch.randint(0, H, (total,), device=dev, generator=gen, dtype=torch.int16),
            "p": torch.randint(0, 2, (total,), device=dev, generator=gen, dtype=torch.uint8)}
    return cols, offsets.to(dev)


def cuda_time(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` between CUDA events, after one warm-up call."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def copy_bandwidth(nbytes: int = 2 << 30, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    src = torch.randint(0, 1 << 30, (nbytes // 8,), dtype=torch.int64, device="cuda")
    dst = torch.empty_like(src)
    sec = cuda_time(lambda: dst.copy_(src), repeats)
    return 2 * nbytes / sec


def check_parity(cols, offsets, frames, voxels, n_bins: int) -> str:
    """Every stream's GPU frames equal the CPU numba kernel's; voxel grids equal to float rounding."""
    from eventar.kernels import frames as F
    from eventar.kernels import voxel as V

    host = {k: v.cpu().numpy() for k, v in cols.items()}
    off = offsets.cpu().numpy()
    fr = frames.cpu().numpy()
    vx = voxels.cpu().numpy()
    worst = 0.0
    for b in range(len(off) - 1):
        s = slice(off[b], off[b + 1])
        t, x, y, p = (host[k][s] for k in "txyp")
        lo, hi = F.slice_bounds(t, n_time_bins=n_bins)
        if not np.array_equal(fr[b], F.to_frame_numba(x, y, p, lo, hi, SENSOR)):
            raise AssertionError(f"GPU frames differ from the CPU kernel on stream {b}")
        ref = V.to_voxel_numba(t, x, y, p, SENSOR, n_bins)
        err = float(np.abs(vx[b] - ref).max() / max(1.0, np.abs(ref).max()))
        worst = max(worst, err)
    if worst > 1e-9:
        raise AssertionError(f"GPU voxel grid differs from the CPU kernel: max rel. {worst:.1e}")
    return f"frames identical on all {len(off) - 1} streams; voxel grids within {worst:.1e} (relative)"


def registers(unroll: int) -> str:
    """Registers per thread of the compiled frame and voxel kernels (numba's report), as text."""
    from eventar.kernels import frames_cuda, voxel_cuda

    out = []
    for name, kernel in (("frames", frames_cuda._count_kernel(unroll)), ("voxel", voxel_cuda._accumulate_kernel(unroll))):
        try:
            regs = kernel.get_regs_per_thread()
            regs = sorted(set(regs.values())) if isinstance(regs, dict) else [regs]
            out.append(f"{name} {'/'.join(map(str, regs))}")
        except Exception as exc:  # depends on the numba-cuda version
            out.append(f"{name} n/a ({type(exc).__name__})")
    return ", ".join(out)


def sweep_launch_configs(cols, off, n_bins: int, repeats: int) -> list:
    """Table rows timing frames_batch and voxel_batch under each (threads, tile limit, unroll) of
    :mod:`eventar.kernels._tiles`; a configuration that cannot launch is shown as –."""
    from eventar.kernels import _tiles
    from eventar.transforms import frames_batch, voxel_batch

    def timed(fn):
        try:
            return f"{cuda_time(fn, repeats) * 1e3:.3f}"
        except Exception as exc:  # e.g. too many resources requested for launch
            print("did not launch:", type(exc).__name__, exc, flush=True)
            return "–"

    keep = (_tiles.THREADS, _tiles.LIMIT, _tiles.UNROLL)
    rows = []
    try:
        for threads in (256, 512, 1024):
            for limit in (_tiles.DEFAULT_SMEM, 0):
                for unroll in (1, 2, 4, 8):
                    _tiles.THREADS, _tiles.LIMIT, _tiles.UNROLL = threads, limit, unroll
                    fr = timed(lambda: frames_batch(cols, off, SENSOR, n_time_bins=n_bins))
                    vx = timed(lambda: voxel_batch(cols, off, SENSOR, n_bins))
                    rows.append(f"| {threads} | {'48 KiB' if limit else 'opt-in max'} | {unroll} | {fr} | {vx} |")
                    print(rows[-1], flush=True)
    finally:
        _tiles.THREADS, _tiles.LIMIT, _tiles.UNROLL = keep
    rows.append(f"\nShared-memory opt-in granted: {sorted(set(_tiles._OPTED_IN.values())) or 'no'}.")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=1e8)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--bins", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--write", action="store_true", help="replace the RESULTS.md section")
    ap.add_argument("--variants", action="store_true", help="also time other launch configurations")
    ap.add_argument("--once", action="store_true",
                    help="run frames_batch and voxel_batch once each and stop (for a profiler such as ncu)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    from eventar.transforms import frames_batch, point_cloud_batch, voxel_batch

    total, nb, T = int(args.events), args.streams, args.bins
    cols, off = make_batch(total, nb)
    if args.once:
        frames_batch(cols, off, SENSOR, n_time_bins=T)
        voxel_batch(cols, off, SENSOR, T)
        torch.cuda.synchronize()
        return 0
    bw = copy_bandwidth()
    frames = frames_batch(cols, off, SENSOR, n_time_bins=T)
    voxels = voxel_batch(cols, off, SENSOR, T)
    parity = check_parity(cols, off, frames, voxels, T)
    print(parity, flush=True)
    kernels = {
        f"frames_batch(n_time_bins={T})": (lambda: frames_batch(cols, off, SENSOR, n_time_bins=T),
                                           5 * total + frames.numel() * frames.element_size()),
        f"voxel_batch({T})": (lambda: voxel_batch(cols, off, SENSOR, T),
                              13 * total + voxels.numel() * voxels.element_size()),
        "point_cloud_batch(0.5 s / 0.25 s, 1024 points)": (lambda: point_cloud_batch(cols, off, SENSOR), None),
    }
    rows = [f"| copy bandwidth (2 GiB d2d, read + write) | – | – | {bw / 1e9:.0f} GB/s | 100 % |"]
    for name, (fn, nbytes) in kernels.items():
        sec = cuda_time(fn, args.repeats)
        if nbytes:
            rows.append(f"| {name} | {sec * 1e3:.3f} | {total / sec / 1e9:.1f} | {nbytes / sec / 1e9:.0f} GB/s "
                        f"| {100 * nbytes / sec / bw:.0f} % |")
        else:
            rows.append(f"| {name} | {sec * 1e3:.3f} | {total / sec / 1e9:.1f} | – | – |")
        print(rows[-1], flush=True)
    variants = []
    if args.variants:
        variants = ["", "Launch configurations (same input; frames / voxel ms; – = did not launch):", "",
                    "| threads per block | shared memory per tile | events in flight per thread | frames ms | voxel ms |",
                    "|---:|---:|---:|---:|---:|", *sweep_launch_configs(cols, off, T, args.repeats)]
    from eventar.kernels import _tiles

    config = (f"Defaults: {_tiles.THREADS} threads per block, tiles up to the shared-memory opt-in limit, "
              f"{_tiles.UNROLL} events in flight per thread; registers per thread: {registers(_tiles.UNROLL)}.")
    body = "\n".join([
        f"Device: {torch.cuda.get_device_name()}, torch {torch.__version__}. "
        f"Command: `python benchmarks/bench_representations_gpu.py --events {args.events:.0e} --streams {nb}`. "
        f"Ragged batch of {nb} streams, {total:.0e} events (int64 t, int16 x/y, uint8 p), {T} bins, "
        f"128×128×2; medians of {args.repeats} CUDA-event-timed calls. Parity: {parity}. {config}",
        "",
        "| kernel | ms | G ev/s | effective bandwidth | % of copy bandwidth |",
        "|---|---:|---:|---:|---:|",
        *rows,
        *variants,
    ])
    print(body)
    if args.write:
        update_results_section("Representations (GPU)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
