"""Selective scan on a CUDA GPU: mamba-ssm's fused kernel vs eventar's reference loop on the GPU,
with eventar's CPU kernel for scale, forward + backward, plus parity figures.

    python benchmarks/bench_scan_gpu.py [--write]      # needs CUDA; mamba-ssm optional

Size: the issue's (batch 8, d_inner 512, d_state 16, L 2048), float32, softplus(Δ + bias) → scan →
+ D·u → · silu(z).  GPU times are medians of CUDA-synchronised wall times after a warm-up; the CPU
time (1 thread, as in ``bench_scan.py``, and all cores) is a median of 3.  Parity: max |fused − reference| of the
output and of every input gradient, relative to the reference's max magnitude.
With ``--write`` the table replaces the "## Selective scan (GPU)" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_results_section  # noqa: E402
from bench_scan import eventar_fn, make_inputs  # noqa: E402

from eventar.nn.scan import mamba_ssm_available, selective_scan, selective_scan_cpu, selective_scan_ref  # noqa: E402


def _median_time(fn, repeats, sync):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", nargs=4, type=int, default=[8, 512, 2048, 16], metavar=("B", "D", "L", "N"))
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench_scan_gpu.py needs a CUDA device")
    b, d, l, n = args.size
    cpu_t, cpu_gy = make_inputs(b, d, l, n)
    dev = {k: v.detach().cuda().requires_grad_() for k, v in cpu_t.items()}
    gy = cpu_gy.cuda()
    sync = torch.cuda.synchronize
    rows = []
    ref_run = eventar_fn(dev, gy, selective_scan_ref)
    y_ref = ref_run()
    g_ref = {k: v.grad.clone() for k, v in dev.items()}
    t_ref = _median_time(ref_run, max(3, args.repeats // 4), sync)
    rows.append(("eventar selective_scan_ref on the GPU (sequential loop)", t_ref, "—"))
    if mamba_ssm_available():
        fused_run = eventar_fn(dev, gy, lambda **kw: selective_scan(**kw, backend="mamba_ssm"))
        y_f = fused_run()
        scale = max(1.0, float(y_ref.detach().abs().max()))
        diffs = [f"out {float((y_f - y_ref).detach().abs().max()) / scale:.1e}"]
        for k, v in dev.items():
            s = max(1.0, float(g_ref[k].abs().max()))
            diffs.append(f"d{k} {float((v.grad - g_ref[k]).abs().max()) / s:.1e}")
        t_f = _median_time(fused_run, args.repeats, sync)
        rows.append(("mamba-ssm fused selective_scan_fn", t_f, ", ".join(diffs)))
    else:
        t_f = None
        rows.append(("mamba-ssm fused selective_scan_fn", float("nan"), "mamba-ssm not installed"))
    import os

    import numba

    cpu_run = eventar_fn(cpu_t, cpu_gy, selective_scan_cpu)
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        t_cpu = _median_time(cpu_run, 3, lambda: None)
        rows.append((f"eventar numba CPU kernel ({threads} thread{'s' if threads > 1 else ''}, for scale)", t_cpu, "—"))
    name = torch.cuda.get_device_name()
    lines = [f"Device: {name}, torch {torch.__version__}. Command: `python benchmarks/bench_scan_gpu.py`. "
             f"Forward + backward, B {b}, d_inner {d}, L {l}, d_state {n}, float32; medians.",
             "", "| path | s | vs mamba-ssm | parity vs reference (max rel. diff) |", "|---|---:|---:|---|"]
    for label, t, par in rows:
        vs = f"{t / t_f:.1f}×" if t_f and t == t else "–"
        lines.append(f"| {label} | {t:.4f} | {vs} | {par} |")
    body = "\n".join(lines)
    print(body)
    if args.write:
        update_results_section("Selective scan (GPU)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
