"""Events/s of eventar's representations against tonic 1.7 and SpikingJelly 2.0, in one process.

For N in {1e5, 1e6, 1e7} events (128x128x2 sensor, sorted t at ~1 Mev/s with ties, tonic's own
13-byte ``events_struct`` as input for every tool) this times, interleaved (each repeat runs every
tool once; medians reported):

* frames, 16 time bins: eventar ``ToFrame(n_time_bins=16)`` vs tonic ``ToFrame(n_time_bins=16)``
  vs SpikingJelly ``integrate_events_by_fixed_frames_number(split_by='time', frames_num=16)``;
* voxel grid, 16 bins: eventar ``ToVoxelGrid`` vs tonic ``ToVoxelGrid`` (int8 polarity so tonic
  is correct; SpikingJelly has no voxel grid);
* point clouds (SpikePoint: 0.5 s windows, 0.25 s step, 1024 points, >= 101 events): eventar
  ``ToPointCloud`` vs the published-style Python loop and vs a vectorised numpy version
  (searchsorted + ``Generator.choice``); neither tonic nor SpikingJelly has one;
* AFE frames (DVS128 Gesture preset, T = 8): eventar numba vs eventar's numpy reference (no
  runnable competitor: ExACT's converter needs OpenCV);

and two floors for reading the 13-byte input once:

* the *DRAM read floor* (issue 3's definition, the one its "40 % of the floor" target uses):
  main-memory read bandwidth of one core, ``_common.dram_read_bandwidth`` (``ndarray.sum()`` over
  a 1 GiB uint64 array, 32x the 32 MiB L3), as events/s = bandwidth / 13 bytes; measured at the
  start and at the end of the run, the faster of the two is used;
* the *cache-resident sum* (an extra column, not the target): ``_common.bandwidth_floor`` = the
  same sum over an array of the input's size, which up to 1e6 events (13 MB) stays in the L3, so
  it measures the cache, not memory.

SpikingJelly: ``spikingjelly.datasets`` cannot be imported without torchvision, which has no build
for this CPU torch, so its ``datasets/utils.py`` is loaded from the installed package with a stub
``torchvision`` module (the integration functions are pure numpy and never touch it): the timed
code is SpikingJelly's own.

Usage: ``python benchmarks/bench_representations.py [--sizes 1e5 1e6 1e7] [--repeats 5] [--write]``.
The CUDA kernels are measured by ``benchmarks/bench_representations_gpu.py`` (section
"Representations (GPU)").
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    bandwidth_floor,
    bench_interleaved,
    dram_read_bandwidth,
    machine,
    update_results_section,
)

W, H = 128, 128
SENSOR = (W, H, 2)
EVENT_BYTES = 13  # tonic's events_struct: int16 x, int16 y, int64 t, bool p
TARGETS = "frames >= 30x tonic and >= 40 % of the DRAM read floor; voxel grid >= 10x tonic; point clouds >= 100 M ev/s"


def make_stream(n: int, seed: int = 0, p_dtype="?", us_per_event: float = 1.0):
    import tonic

    dtype = tonic.io.events_struct if p_dtype == "?" else np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", p_dtype)])
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=dtype)
    ev["t"] = np.cumsum(rng.poisson(us_per_event, n))  # Poisson arrivals, ties allowed
    ev["x"] = rng.integers(0, W, n)
    ev["y"] = rng.integers(0, H, n)
    ev["p"] = rng.integers(0, 2, n).astype(ev["p"].dtype)
    return ev


def load_spikingjelly_integration():
    """SpikingJelly's datasets/utils.py with a stub torchvision (see the module docstring)."""
    import spikingjelly

    for name in ("torchvision", "torchvision.transforms"):
        sys.modules.setdefault(name, types.ModuleType(name))
    path = Path(spikingjelly.__file__).parent / "datasets" / "utils.py"
    pkg = types.ModuleType("spikingjelly.datasets")
    pkg.__path__ = [str(path.parent)]
    sys.modules.setdefault("spikingjelly.datasets", pkg)
    spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- point-cloud competitors (SpikePoint / EventMamba preprocessing semantics) ------------------


def pointcloud_published_loop(ev, window=500_000, step=250_000, n_points=1024, min_events=101, seed=0):
    """Window search as a Python loop over events, full-permutation sampling (the published style)."""
    rng = np.random.default_rng(seed)
    t = ev["t"]
    data = np.stack([t, ev["x"], ev["y"]], axis=1).astype(np.int64)
    out = []
    start_t = t[0]
    i = 0
    n = len(t)
    while start_t + window < t[-1]:
        while i < n and t[i] < start_t:
            i += 1
        j = i
        while j < n and t[j] < start_t + window:
            j += 1
        if j - i >= min_events:
            win = data[i:j]
            if len(win) >= n_points:
                idx = np.sort(rng.permutation(len(win))[:n_points])
            else:
                idx = np.sort(rng.choice(len(win), n_points, replace=True))
            pts = win[idx].astype(np.float64)
            tt = pts[:, 0]
            out.append(np.stack([pts[:, 1] / W, pts[:, 2] / H, (tt - tt.min()) / (tt.max() - tt.min() + 1e-6)], 1))
        start_t += step
    return np.asarray(out, np.float32)


def pointcloud_numpy_vectorised(ev, window=500_000, step=250_000, n_points=1024, min_events=101, seed=0):
    """searchsorted window bounds + gather of only the sampled rows + Generator.choice."""
    rng = np.random.default_rng(seed)
    t = np.ascontiguousarray(ev["t"])
    starts = np.arange(t[0], t[-1] - window, step)
    lo = np.searchsorted(t, starts)
    hi = np.searchsorted(t, starts + window)
    out = []
    for a, b in zip(lo, hi):
        c = b - a
        if c < min_events:
            continue
        idx = a + np.sort(rng.choice(c, n_points, replace=c < n_points))
        tt = t[idx].astype(np.float64)
        out.append(np.stack([ev["x"][idx] / W, ev["y"][idx] / H, (tt - tt[0]) / max(tt[-1] - tt[0], 1)], 1))
    return np.asarray(out, np.float32)


def run(sizes, repeats):
    import tonic

    from eventar.transforms import ToAFEFrames, ToFrame, ToPointCloud, ToVoxelGrid

    sj = load_spikingjelly_integration()
    rows = []
    for n in sizes:
        ev = make_stream(n)
        ev8 = make_stream(n, p_dtype="i1")
        evp = make_stream(n, us_per_event=6.0)  # point clouds: DVSGesture-like 1e6 events / 6 s
        sj_events = {k: np.ascontiguousarray(ev[k]).astype(np.int64 if k == "t" else np.int32) for k in "txyp"}
        reps = repeats if n < 5_000_000 else max(3, repeats // 2)
        floor = bandwidth_floor(ev.nbytes, repeats=reps)
        fr_e = ToFrame(SENSOR, n_time_bins=16)
        fr_t = tonic.transforms.ToFrame(sensor_size=SENSOR, n_time_bins=16)
        vx_e = ToVoxelGrid(SENSOR, 16)
        vx_t = tonic.transforms.ToVoxelGrid(sensor_size=SENSOR, n_time_bins=16)
        pc_e = ToPointCloud(SENSOR, window_us=500_000, step_us=250_000, n_points=1024, min_events=101, seed=0)

        assert np.array_equal(fr_e(ev), fr_t(ev.copy())), "frames differ from tonic"
        assert np.array_equal(vx_e(ev8), vx_t(ev8)), "voxel grid differs from tonic"
        times = bench_interleaved({
            "frames/eventar": lambda: fr_e(ev),
            "frames/tonic": lambda: fr_t(ev),
            "frames/spikingjelly": lambda: sj.integrate_events_by_fixed_frames_number(sj_events, "time", 16, H, W),
        }, repeats=reps)
        times.update(bench_interleaved({
            "voxel/eventar": lambda: vx_e(ev8),
            "voxel/tonic": lambda: vx_t(ev8),
        }, repeats=reps))
        assert len(pc_e(evp)) == len(pointcloud_numpy_vectorised(evp)), "window counts differ"
        pc_fns = {"points/eventar": lambda: pc_e(evp), "points/numpy-vectorised": lambda: pointcloud_numpy_vectorised(evp)}
        if n <= 1_000_000:
            pc_fns["points/published-loop"] = lambda: pointcloud_published_loop(evp)
        times.update(bench_interleaved(pc_fns, repeats=reps))
        if n <= 1_000_000:
            afe_e = ToAFEFrames(SENSOR, preset="dvsgesture", n_frames=8)
            from eventar.kernels import afe as afe_mod

            times.update(bench_interleaved({
                "afe/eventar": lambda: afe_e(ev),
                "afe/eventar-numpy-ref": lambda: afe_mod.afe_frames(ev["x"], ev["y"], ev["p"], W, H, threshold=30,
                                                                    min_events=15_000, n_frames=8, backend="ref"),
            }, repeats=max(3, reps // 2)))
        rows.append((n, floor, times))
        print(f"N={n:.0e} cache-resident sum {floor * 1e3:.2f} ms: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in times.items()),
              flush=True)
    return rows


def table(rows, dram_bps: float) -> str:
    """Markdown: ms and M ev/s of every tool at every N, then the two floors."""
    lines = ["| representation / tool | " + " | ".join(f"{n:.0e} ms | {n:.0e} Mev/s" for n, _, _ in rows) + " |",
             "|---|" + "---:|---:|" * len(rows)]
    keys = []
    for _, _, times in rows:
        keys += [k for k in times if k not in keys]
    for k in keys:
        cells = []
        for n, _, times in rows:
            if k in times:
                cells += [f"{times[k] * 1e3:.2f}", f"{n / times[k] / 1e6:.1f}"]
            else:
                cells += ["–", "–"]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("| **DRAM read floor** (13 B/event at the measured DRAM read bandwidth; the target's floor) | " + " | ".join(
        f"{n * EVENT_BYTES / dram_bps * 1e3:.2f} | {dram_bps / EVENT_BYTES / 1e6:.0f}" for n, _, _ in rows) + " |")
    lines.append("| cache-resident sum: sum an array of the input's size (L3 up to 1e6) | " + " | ".join(
        f"{f * 1e3:.2f} | {n / f / 1e6:.0f}" for n, f, _ in rows) + " |")
    return "\n".join(lines)


def ratios(rows, dram_bps: float) -> str:
    """Markdown: the ratios issue 3 sets targets on, plus the cache-resident percentage as an extra."""
    out = ["| N | frames: tonic / eventar | frames: % of DRAM read floor | frames: % of cache-resident sum | "
           "frames: SpikingJelly / eventar | voxel: tonic / eventar | voxel: % of DRAM read floor | points: M ev/s | "
           "points: published loop / eventar | points: numpy-vectorised / eventar |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, floor, t in rows:
        fe, ve, pe = t["frames/eventar"], t["voxel/eventar"], t["points/eventar"]
        dram = n * EVENT_BYTES / dram_bps
        loop = f"{t['points/published-loop'] / pe:.0f}×" if "points/published-loop" in t else "–"
        out.append(f"| {n:.0e} | {t['frames/tonic'] / fe:.1f}× | {100 * dram / fe:.0f} % | {100 * floor / fe:.0f} % | "
                   f"{t['frames/spikingjelly'] / fe:.1f}× | {t['voxel/tonic'] / ve:.1f}× | {100 * dram / ve:.0f} % | "
                   f"{n / pe / 1e6:.0f} | {loop} | {t['points/numpy-vectorised'] / pe:.1f}× |")
    return "\n".join(out)


def verdicts(rows, dram_bps: float) -> str:
    """One line per N: each of issue 3's targets, met or missed, with the figure."""
    out = []
    for n, _, t in rows:
        fe, ve, pe = t["frames/eventar"], t["voxel/eventar"], t["points/eventar"]
        checks = [
            ("frames ≥ 30× tonic", t["frames/tonic"] / fe, 30, "{:.1f}×"),
            ("frames ≥ 40 % of the DRAM read floor", 100 * n * EVENT_BYTES / dram_bps / fe, 40, "{:.0f} %"),
            ("voxel ≥ 10× tonic", t["voxel/tonic"] / ve, 10, "{:.1f}×"),
            ("points ≥ 100 M ev/s", n / pe / 1e6, 100, "{:.0f} M ev/s"),
        ]
        out.append(f"* {n:.0e} events: " + "; ".join(
            f"{name}: {fmt.format(v)} – {'met' if v >= need else '**missed**'}" for name, v, need, fmt in checks))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md (default: print only)")
    args = ap.parse_args(argv)
    import os

    load_start = os.getloadavg()
    dram_start = dram_read_bandwidth()
    rows = run([int(s) for s in args.sizes], args.repeats)
    dram_end = dram_read_bandwidth()
    load_end = os.getloadavg()
    dram_bps = max(dram_start["bytes_per_s"], dram_end["bytes_per_s"])  # the faster floor: the stricter target
    cmd = "`.venv/bin/python benchmarks/bench_representations.py " + " ".join(
        ["--sizes"] + [f"{s:.0e}" for s in args.sizes] + ["--repeats", str(args.repeats), "--write"]) + "`"
    body = "\n".join([
        f"Machine: {machine()}; shared 2-core VM (other engineers' jobs may run beside it). Kernels single-threaded.",
        f"Command: {cmd}",
        "Load average (1, 5, 15 min, as `uptime` prints it) at the start: " + ", ".join(f"{v:.2f}" for v in load_start)
        + "; at the end: " + ", ".join(f"{v:.2f}" for v in load_end) + ".",
        "Input: tonic's 13-byte `events_struct` (strided fields) for every tool, 128×128×2 sensor, sorted t at "
        "~1 Mev/s with ties (point clouds: 1e6 events per 6 s, like a DVSGesture sample); 16 bins. Medians of interleaved repeats (each repeat runs every tool once). "
        "eventar frames and voxel grids are checked equal to tonic's before timing (voxel with int8 p, where tonic "
        "is correct). SpikingJelly = its own `integrate_events_by_fixed_frames_number(split_by='time')`, loaded "
        "from the installed package with a stub torchvision. Point-cloud competitors are re-implementations of "
        "the SpikePoint/EventMamba preprocessing (published-style loop; vectorised numpy). AFE: no runnable "
        "competitor (ExACT's converter needs OpenCV), eventar's numba path vs its numpy reference.",
        "",
        table(rows, dram_bps),
        "",
        ratios(rows, dram_bps),
        "",
        f"Issue 3's targets ({TARGETS}); the issue sets them at 1e6 events, the other sizes are for information:",
        "",
        verdicts(rows, dram_bps),
        "",
        "The two floors. Issue 3 defines its floor as memory read bandwidth: \"a single-pass numba kernel over "
        "contiguous x/y/t/p arrays reached ~270 M/s against a read-bandwidth floor of ~675 M/s\", where 675 M ev/s "
        "was numpy's `.sum()` over a 1 GiB array (~8.8 GB/s then) divided by 13 bytes/event. The **DRAM read "
        "floor** above is that measurement, repeated here: `_common.dram_read_bandwidth` sums a "
        f"{dram_start['nbytes'] / 2**30:.0f} GiB uint64 array ({dram_start['nbytes'] / dram_start['llc_bytes']:.0f}× "
        f"the {dram_start['llc_bytes'] / 2**20:.0f} MiB last-level cache), "
        f"{dram_start['bytes_per_s'] / 1e9:.1f} GB/s at the start of this run and {dram_end['bytes_per_s'] / 1e9:.1f} GB/s "
        f"at the end; the faster, {dram_bps / 1e9:.1f} GB/s = {dram_bps / EVENT_BYTES / 1e6:.0f} M ev/s, is the "
        "floor, and the 40 % target is against it, because that is what the issue specifies and because it does "
        "not depend on where N happens to fall against the cache size. The **cache-resident sum** is the floor "
        "this script used to report (`_common.bandwidth_floor`: sum of an array of the input's size): up to 1e6 "
        "events (13 MB, inside the 32 MiB L3) it is a cache figure ("
        + ", ".join(f"{n * EVENT_BYTES / f / dram_bps:.1f}× the DRAM floor at {n:.0e}" for n, f, _ in rows)
        + "), and it is kept as a column so the comparison against it stays visible. Today's DRAM figure is "
        f"{dram_bps / EVENT_BYTES / 675e6:.1f}× the issue's 675 M ev/s, so 40 % of it "
        f"({0.4 * dram_bps / EVENT_BYTES / 1e6:.0f} M ev/s) is a stricter bar than 40 % of 675 (270 M ev/s); "
        "against the issue's figure, eventar's frames reach "
        + ", ".join(f"{100 * n / t['frames/eventar'] / 675e6:.0f} % at {n:.0e}" for n, _, t in rows)
        + ". Interleaving runs each tool right after the others, so the input has often been evicted from "
        "the L3 (which then holds the previous tool's dirty data) when a tool starts: eventar's figures here "
        "are those of a cold-ish cache, not of a kernel re-run on its own.",
        "",
        "All tools share the machine with other jobs when there are any (see the load average), so medians move "
        "between runs; the ratios come from the same interleaved rounds. tonic gains more from an idle machine "
        "than eventar does, so the ratios to tonic are lowest on an idle one. eventar's kernels are single-"
        "threaded (parallel regions lost on this machine); a training loop parallelises over samples.",
        "",
        "GPU figures (H100, ragged batch of 64 streams, 1e8 events): section \"Representations (GPU)\", "
        "from `benchmarks/bench_representations_gpu.py`.",
    ])
    print(body)
    if args.write:
        update_results_section("Representations", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
