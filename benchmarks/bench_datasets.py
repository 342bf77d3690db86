"""Dataset caching: eventar.datasets.CachedDataset vs tonic.DiskCachedDataset, plus synthetic generation rate.

    .venv/bin/python benchmarks/bench_datasets.py [--samples 110] [--repeats 5] [--write]

Both caches wrap the same in-memory dataset of SyntheticGestures samples passed through the same
frame transform (2×128×128 int16 counts), so only storage is timed.  Interleaved per repeat:
*fill* (empty cache folder, every sample written once and read back — both libraries re-read what
they wrote) and *read* (warm cache, every sample read).  tonic runs with its default ``compress=True``
(lzf) and with ``compress=False``.  Also reported: SyntheticGestures generation time per sample
(no competitor: tonic has no simulator).  ``--write`` updates the "Datasets" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_interleaved, machine, update_results_section  # noqa: E402


@dataclasses.dataclass(frozen=True)
class _Frames:
    def __call__(self, ev):
        img = np.zeros((2, 128, 128), np.int16)
        np.add.at(img, (ev["p"], ev["y"], ev["x"]), 1)
        return img


class _InMemory:
    """Precomputed (frames, label) pairs; ``cache_params`` for eventar's key."""

    name = "bench"
    transform = target_transform = transforms = None

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]

    def cache_params(self):
        return {"name": "bench", "n": len(self.samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=110)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from tonic import DiskCachedDataset

    from eventar.datasets import CachedDataset, SyntheticGestures

    syn = SyntheticGestures(split="test", n_per_class=max(1, args.samples // 11), cache=False)
    syn.generate(0)  # JIT warm-up
    t0 = time.perf_counter()
    raw = [syn.generate(i) for i in range(len(syn))]
    gen_ms = (time.perf_counter() - t0) / len(syn) * 1e3
    n_events = np.mean([len(e) for e, _ in raw])
    frames = [(_Frames()(e), lab) for e, lab in raw]
    ds = _InMemory(frames)
    tmp = Path(tempfile.mkdtemp(prefix="bench_datasets_"))

    def fresh(name):
        d = tmp / name
        shutil.rmtree(d, ignore_errors=True)
        return d

    def fill_eventar():
        c = CachedDataset(ds, fresh("ev_fill"))
        for i in range(len(ds)):
            c[i]

    def fill_tonic(compress):
        def run():
            c = DiskCachedDataset(ds, cache_path=str(fresh(f"to_fill_{compress}")), compress=compress)
            for i in range(len(ds)):
                c[i]

        return run

    warm_ev = CachedDataset(ds, tmp / "ev_warm")
    warm_lzf = DiskCachedDataset(ds, cache_path=str(tmp / "to_warm_lzf"), compress=True)
    warm_raw = DiskCachedDataset(ds, cache_path=str(tmp / "to_warm_raw"), compress=False)
    for c in (warm_ev, warm_lzf, warm_raw):
        for i in range(len(ds)):
            c[i]
    for i in range(len(ds)):  # sanity: all three give back the same frames
        assert np.array_equal(warm_ev[i][0], warm_lzf[i][0]) and np.array_equal(warm_ev[i][0], warm_raw[i][0])

    def read(c):
        def run():
            for i in range(len(ds)):
                c[i]

        return run

    fill = bench_interleaved(
        {"eventar CachedDataset": fill_eventar, "tonic DiskCachedDataset (lzf)": fill_tonic(True), "tonic DiskCachedDataset (no compression)": fill_tonic(False)},
        repeats=args.repeats,
    )
    rd = bench_interleaved(
        {"eventar CachedDataset": read(warm_ev), "tonic DiskCachedDataset (lzf)": read(warm_lzf), "tonic DiskCachedDataset (no compression)": read(warm_raw)},
        repeats=args.repeats,
    )
    size_mb = {
        name: sum(f.stat().st_size for f in (tmp / d).rglob("*") if f.is_file()) / 1e6
        for name, d in (("eventar CachedDataset", "ev_warm"), ("tonic DiskCachedDataset (lzf)", "to_warm_lzf"),
                        ("tonic DiskCachedDataset (no compression)", "to_warm_raw"))
    }
    shutil.rmtree(tmp, ignore_errors=True)

    n = len(ds)
    base_f, base_r = fill["eventar CachedDataset"], rd["eventar CachedDataset"]
    lines = [
        f"Machine: {machine()}; 2-core shared VM, other jobs running (noisy).",
        f"Command: `.venv/bin/python benchmarks/bench_datasets.py --samples {args.samples} --repeats {args.repeats} --write`",
        "",
        f"{n} samples of 2×128×128 int16 frames (SyntheticGestures test split through a count-frame transform); "
        "medians of interleaved repeats, per whole pass over the dataset.",
        "",
        "| cache | fill (write + read back) | ratio | read (warm) | ratio | on disk |",
        "|---|---|---|---|---|---|",
    ]
    for k in fill:
        lines.append(
            f"| {k} | {fill[k] * 1e3:.1f} ms | {fill[k] / base_f:.2f}× | {rd[k] * 1e3:.1f} ms | {rd[k] / base_r:.2f}× | {size_mb[k]:.1f} MB |"
        )
    lines += [
        "",
        f"SyntheticGestures generation (numba DVS simulator, noise on): {gen_ms:.1f} ms per sample, "
        f"{n_events:.0f} events per sample on average ({n} samples); no competitor.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        update_results_section("Datasets", body)


if __name__ == "__main__":
    main()
