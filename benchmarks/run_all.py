"""Run every benchmark of this folder, one after another, with the settings RESULTS.md records (`make bench`).

    .venv/bin/python benchmarks/run_all.py                 # recorded sizes, print only (4 min on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick         # small sizes: a smoke run of every script (minutes)
    .venv/bin/python benchmarks/run_all.py --write         # recorded sizes, and replace their RESULTS.md sections
    .venv/bin/python benchmarks/run_all.py --only lif scan # some of them (names below)
    .venv/bin/python benchmarks/run_all.py --dry-run       # print the commands

Each benchmark runs in its own process, so one tool's caches and threads never leak into the next
one's timings.  Those that need a CUDA device (or the CUDA toolkit's ``ptxas``, for the offline
register count) are skipped with a note where it is missing.  ``--quick`` figures are far too small
to mean anything, so ``--quick`` never writes RESULTS.md.  The exit status is the number of
benchmarks that failed (0 when all ran or were skipped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    """One script and how to run it.

    Attributes:
        name: short name for ``--only``.
        script: file name inside ``benchmarks/``.
        full: arguments of the run RESULTS.md records (``--write`` is added by ``--write``).
        quick: arguments of a smoke run at small sizes (never written).
        needs: ``"cuda"`` (a CUDA device through torch), ``"ptxas"`` (the CUDA toolkit) or None.
        env: extra environment variables of the recorded run.
    """

    name: str
    script: str
    full: Tuple[str, ...] = ()
    quick: Tuple[str, ...] = ()
    needs: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)


BENCHMARKS: Tuple[Benchmark, ...] = (
    Benchmark("io-readers", "bench_io_readers.py", ("--events", "10000000", "--repeats", "5"),
              ("--events", "200000", "--repeats", "2")),
    Benchmark("io-formats", "bench_io_formats.py", ("--events", "5000000", "--repeats", "5"),
              ("--events", "200000", "--repeats", "2")),
    Benchmark("datasets", "bench_datasets.py", ("--samples", "110", "--repeats", "5"),
              ("--samples", "12", "--repeats", "2")),
    Benchmark("representations", "bench_representations.py", ("--sizes", "1e5", "1e6", "1e7", "--repeats", "7"),
              ("--sizes", "1e5", "--repeats", "2")),
    Benchmark("lif", "bench_lif.py", ("--B", "4", "--repeats", "7"),
              ("--B", "1", "--C", "32", "--N", "256", "--repeats", "2")),
    Benchmark("scan", "bench_scan.py", (), ("--quick", "--repeats", "1")),
    Benchmark("energy", "bench_energy.py", ("--repeats", "21", "--spikepoint"), ("--repeats", "2"),
              env={"OMP_NUM_THREADS": "1"}),
    Benchmark("training", "bench_training.py", ("--repeats", "3", "--threads", "1"),
              ("--batch", "4", "--repeats", "2", "--threads", "1")),
    Benchmark("representations-gpu", "bench_representations_gpu.py", ("--events", "1e8", "--streams", "64"),
              ("--events", "1e6", "--streams", "8", "--repeats", "3"), needs="cuda"),
    Benchmark("scan-gpu", "bench_scan_gpu.py", (), ("--size", "2", "64", "128", "16", "--repeats", "3"), needs="cuda"),
    Benchmark("cuda-resources", "cuda_resources.py", ("--arch", "90"), ("--arch", "90", "--unroll", "1"), needs="ptxas"),
)


def command(bench: Benchmark, quick: bool = False, write: bool = False, python: str = sys.executable) -> List[str]:
    """The argv that runs ``bench``: its quick or recorded arguments, plus ``--write`` when asked
    (never for quick runs)."""
    args = list(bench.quick if quick else bench.full)
    if write and not quick:
        args.append("--write")
    return [python, str(HERE / bench.script), *args]


def missing(bench: Benchmark) -> Optional[str]:
    """Why ``bench`` cannot run on this machine, or None when it can."""
    if bench.needs == "cuda":
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        return None if torch.cuda.is_available() else "no CUDA device"
    if bench.needs == "ptxas":
        sys.path.insert(0, str(HERE))
        from cuda_resources import cuda_tool

        return None if cuda_tool("ptxas") else "no ptxas on the PATH or in $CUDA_HOME/bin (the CUDA toolkit)"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    names = [b.name for b in BENCHMARKS]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, print only")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md (not with --quick)")
    ap.add_argument("--only", nargs="+", choices=names, metavar="NAME", help="run these only: " + ", ".join(names))
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    if args.quick and args.write:
        ap.error("--quick figures are not written to RESULTS.md: drop --write or --quick")
    chosen = [b for b in BENCHMARKS if args.only is None or b.name in args.only]
    failed, summary = [], []
    for bench in chosen:
        argv_b = command(bench, quick=args.quick, write=args.write)
        shown = " ".join([*(f"{k}={v}" for k, v in bench.env.items()), "python", f"benchmarks/{bench.script}", *argv_b[2:]])
        why = missing(bench)
        if why is not None:
            summary.append(f"{bench.name:<20} skipped ({why})")
            print(f"== {bench.name}: skipped ({why})", flush=True)
            continue
        print(f"== {bench.name}: {shown}", flush=True)
        if args.dry_run:
            continue
        t0 = time.perf_counter()
        rc = subprocess.run(argv_b, env={**os.environ, **bench.env}, cwd=HERE.parent).returncode
        took = time.perf_counter() - t0
        summary.append(f"{bench.name:<20} {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {took:.0f} s")
        if rc != 0:
            failed.append(bench.name)
    if not args.dry_run:
        print("\n== summary\n" + "\n".join(summary))
    return len(failed)


if __name__ == "__main__":
    raise SystemExit(main())
