"""Shared helpers for the ``benchmarks/bench_*.py`` scripts: interleaved timing and a bandwidth floor.

Every benchmark times eventar and its competitor in the same process, interleaved: each repeat
runs every tool once (in a rotating order), so machine noise hits all of them alike; medians
are reported.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Union

import numpy as np

__all__ = ["bench_interleaved", "bandwidth_floor", "dram_read_bandwidth", "last_level_cache_bytes", "machine",
           "update_results_section"]


def bench_interleaved(fns: Dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> Dict[str, float]:
    """Median wall time in seconds of each function, run interleaved.

    Args:
        fns: name -> zero-argument callable.
        repeats: timed rounds; each round runs every function once, the order rotating per round.
        warmup: untimed rounds first (JIT compilation, page cache).
    Returns:
        name -> median seconds over ``repeats``.
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: Dict[str, list] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in times.items()}


def bandwidth_floor(nbytes: int, repeats: int = 5) -> float:
    """Seconds to touch ``nbytes`` bytes once from memory (sum of a uint64 array that size).

    This is the floor for any decoder that must look at every byte of a file already in the page
    cache; compare read times against it.  Note: an array smaller than the last-level cache (e.g.
    13 MB against 32 MiB of L3) is read from the cache, so this is then a cache figure; see
    :func:`dram_read_bandwidth` for main memory.
    """
    a = np.ones(max(1, int(nbytes) // 8), dtype=np.uint64)
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a.sum()
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache in bytes (from /sys; 32 MiB if it cannot be read)."""
    best = 0
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = f.read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            best = max(best, int(digits) * scale)
    return best or 32 << 20


def dram_read_bandwidth(nbytes: Union[int, None] = None, repeats: int = 5) -> Dict[str, float]:
    """Main-memory read bandwidth of one core: median time of ``ndarray.sum()`` over a uint64 array
    much larger than the last-level cache (so every byte comes from DRAM).

    Args:
        nbytes: buffer size; default max(1 GiB, 16 x the last-level cache).
        repeats: timed sums after one untimed one (which also faults the pages in).
    Returns:
        {"bytes_per_s": median bandwidth, "nbytes": buffer size, "llc_bytes": last-level cache size}.
    """
    llc = last_level_cache_bytes()
    size = int(nbytes) if nbytes is not None else max(1 << 30, 16 * llc)
    a = np.ones(size // 8, dtype=np.uint64)
    a.sum()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a.sum()
        times.append(time.perf_counter() - t0)
    del a
    return {"bytes_per_s": size / statistics.median(times), "nbytes": float(size), "llc_bytes": float(llc)}


def machine() -> str:
    """One line describing the machine (CPU count, model, Python, numpy)."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, numpy {np.__version__}"


def update_results_section(title: str, body: str, path: Union[str, Path, None] = None) -> Path:
    """Replace (or append) the ``## <title>`` section of ``benchmarks/RESULTS.md`` with ``body``.

    A section runs from its ``## `` heading to the next ``## `` heading.  Written via a temporary
    file and rename, so concurrent benchmark scripts never leave a half-written file.
    """
    import os
    import tempfile

    path = Path(path) if path is not None else Path(__file__).with_name("RESULTS.md")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head = f"## {title}"
    lines = text.splitlines()
    out, i, replaced = [], 0, False
    while i < len(lines):
        if lines[i].strip() == head:
            out.extend([head, "", body.strip(), ""])
            replaced = True
            i += 1
            while i < len(lines) and not lines[i].startswith("## "):
                i += 1
            continue
        out.append(lines[i])
        i += 1
    if not replaced:
        if out and out[-1].strip():
            out.append("")
        out.extend([head, "", body.strip(), ""])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".RESULTS.", suffix=".partial")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
    os.replace(tmp, path)
    return path
