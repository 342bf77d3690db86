"""Selective scan forward + backward on CPU: eventar's numba kernel vs the sequential reference vs
mambapy's parallel ``pscan`` (Blelloch scan over materialised (B, L, D, N) tensors), in one process,
interleaved (each repeat runs every contender once; medians reported).

    python benchmarks/bench_scan.py                  # both sizes, prints the table
    python benchmarks/bench_scan.py --write          # ... and replaces the RESULTS.md section
    python benchmarks/bench_scan.py --quick          # small sizes only, prints the timings

Sizes: the issue's target (batch 8, d_inner 512, d_state 16, L 2048) and the size measured in the
issue (batch 8, d_inner 256, L 256).  The sequential reference is timed at the row's own L (at the
target size its autograd graph holds about 3.3 GB); ``--ref-len`` times it at a shorter L and
scales linearly instead.  Rows longer than L 256 also time it at L 256 and report that linear
extrapolation (the method this table used first): the reference grows faster than linearly in L,
so the ratio against the extrapolation is the conservative one.
Every contender computes the same function: softplus(Δ + bias), scan, + D·u, · silu(z); the
outputs and input gradients are checked against eventar's before timing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_interleaved, machine, update_results_section  # noqa: E402

from eventar.nn.scan import selective_scan_cpu, selective_scan_ref  # noqa: E402

SHORT_REF_LEN = 256  # the reference is also timed at this L and scaled linearly (rows with longer L)


def make_inputs(b, d, l, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = {
        "u": torch.randn(b, d, l, generator=g),
        "delta": torch.randn(b, d, l, generator=g) * 0.5 - 1.0,
        "A": -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1),
        "B": torch.randn(b, n, l, generator=g),
        "C": torch.randn(b, n, l, generator=g),
        "D": torch.ones(d),
        "z": torch.randn(b, d, l, generator=g),
        "delta_bias": torch.randn(d, generator=g) * 0.1,
    }
    for v in t.values():
        v.requires_grad_()
    return t, torch.randn(b, d, l, generator=g)


def eventar_fn(t, gy, fn=selective_scan_cpu):
    def run():
        for v in t.values():
            v.grad = None
        y = fn(**t, delta_softplus=True)
        y.backward(gy)
        return y

    return run


def indexed_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True):
    """The loop as mamba-ssm's ``selective_scan_ref`` writes it: ``deltaA[:, :, i]`` indexing
    inside the loop, which gives autograd a quadratic backward on CPU (written here, not imported)."""
    delta = delta + delta_bias[:, None]
    delta = F.softplus(delta) if delta_softplus else delta
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaBu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


def mambapy_fn(t, gy):
    """mambapy's selective_scan (MambaBlock.selective_scan maths) on (B, L, D) layouts."""
    from mambapy.pscan import pscan

    # layouts mambapy works in, prepared outside the timed region
    x = t["u"].detach().transpose(1, 2).contiguous().requires_grad_()
    dl = t["delta"].detach().transpose(1, 2).contiguous().requires_grad_()
    z = t["z"].detach().transpose(1, 2).contiguous().requires_grad_()
    Bm = t["B"].detach().transpose(1, 2).contiguous().requires_grad_()
    Cm = t["C"].detach().transpose(1, 2).contiguous().requires_grad_()
    A, D, bias = (t[k].detach().clone().requires_grad_() for k in ("A", "D", "delta_bias"))
    g = gy.transpose(1, 2).contiguous()
    leaves = (x, dl, z, Bm, Cm, A, D, bias)

    def run():
        for v in leaves:
            v.grad = None
        delta = F.softplus(dl + bias)
        deltaA = torch.exp(delta.unsqueeze(-1) * A)  # (B, L, D, N)
        BX = delta.unsqueeze(-1) * Bm.unsqueeze(2) * x.unsqueeze(-1)
        hs = pscan(deltaA, BX)
        y = (hs @ Cm.unsqueeze(-1)).squeeze(3) + D * x
        y = y * F.silu(z)
        y.backward(g)
        return y.transpose(1, 2)

    return run, leaves


def check_same(t, gy, y_ev, mp_run, mp_leaves):
    grads_ev = {k: v.grad.clone() for k, v in t.items()}
    y_mp = mp_run()
    x, dl, z, Bm, Cm, A, D, bias = mp_leaves
    pairs = {"out": (y_ev, y_mp), "u": (grads_ev["u"], x.grad.transpose(1, 2)),
             "delta": (grads_ev["delta"], dl.grad.transpose(1, 2)), "A": (grads_ev["A"], A.grad),
             "B": (grads_ev["B"], Bm.grad.transpose(1, 2)), "C": (grads_ev["C"], Cm.grad.transpose(1, 2))}
    return {k: float((a.detach() - b.detach()).abs().max() / max(1.0, float(a.detach().abs().max())))
            for k, (a, b) in pairs.items()}


def bench_size(b, d, l, n, repeats, ref_len, indexed=False):
    t, gy = make_inputs(b, d, l, n)
    fns = {"eventar (numba)": eventar_fn(t, gy)}
    y_ev = fns["eventar (numba)"]()
    mp_run, mp_leaves = mambapy_fn(t, gy)
    diffs = check_same(t, gy, y_ev, mp_run, mp_leaves)
    fns["mambapy pscan"] = mp_run
    ref_l = l if not ref_len else min(l, ref_len)
    tr, gyr = make_inputs(b, d, ref_l, n, seed=1)
    ref_key = f"reference (L={ref_l})"
    fns[ref_key] = eventar_fn(tr, gyr, selective_scan_ref)
    short_key = None
    if ref_l > SHORT_REF_LEN:  # the linear extrapolation from L 256, for comparison
        ts, gys = make_inputs(b, d, SHORT_REF_LEN, n, seed=2)
        short_key = f"reference (L={SHORT_REF_LEN})"
        fns[short_key] = eventar_fn(ts, gys, selective_scan_ref)
    if indexed:  # only where it finishes in seconds (quadratic backward)
        with torch.no_grad():
            diffs["indexed loop out"] = float((indexed_reference(**t) - y_ev).abs().max() / y_ev.abs().max().clamp(min=1))
        fns["mamba-ssm-style indexed loop"] = eventar_fn(t, gy, indexed_reference)
    med = bench_interleaved(fns, repeats=repeats, warmup=1)
    med["reference"] = med[ref_key] * l / ref_l
    if short_key is not None:
        med["reference (linear from L=256)"] = med[short_key] * l / SHORT_REF_LEN
    return med, diffs, ref_key


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref-len", type=int, default=0,
                    help="L at which the reference is timed and scaled linearly (default 0: the row's L)")
    ap.add_argument("--quick", action="store_true", help="small sizes, print only")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md (default: print only)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and numba threads for every contender (default 1: on a loaded VM, "
                         "multi-threaded torch loops spin-wait and distort the ratios)")
    args = ap.parse_args(argv)
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    sizes = [(2, 64, 128, 16)] if args.quick else [(8, 256, 256, 16), (8, 512, 2048, 16)]
    rows = []
    for (b, d, l, n) in sizes:
        med, diffs, ref_key = bench_size(b, d, l, n, args.repeats, args.ref_len, indexed=l <= 256)
        ev = med["eventar (numba)"]
        print(f"B={b} D={d} L={l} N={n}: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items()))
        print("  max relative |eventar - mambapy|: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
        rows.append((b, d, l, n, med, diffs, ref_key, ev))
    if args.quick:
        return 0
    cmd = "python benchmarks/bench_scan.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load = os.getloadavg()[0]
    lines = [
        f"Machine: {machine()}; a 2-core VM shared with other jobs (noisy: medians of "
        f"{args.repeats} interleaved repeats after a warm-up; load average {load:.2f} at the end). "
        f"torch {torch.__version__}; {args.threads} thread{'' if args.threads == 1 else 's'} for torch "
        f"and numba alike" + (" (every contender single-threaded)." if args.threads == 1 else "."),
        f"Command: `{cmd.strip()}`",
        "",
        "Forward + backward of softplus(Δ + bias) → scan → + D·u → · silu(z), float32, d_state 16 "
        "(eventar computes the softplus, D·u and the gate inside its kernels). The reference is "
        "eventar's `selective_scan_ref` (sequential loop over `unbind` views, linear-time autograd), "
        "timed at the row's L unless a `(timed at …)` note says otherwise. Its cost grows faster than "
        "linearly in L (its autograd graph, about 3.3 GB at the target size), so the column "
        "'linear from L 256' scales a run at L 256 by L/256 (how this table first estimated it); the "
        "ratio against that is the conservative one. mamba-ssm's own `selective_scan_ref` indexes "
        "`x[:, :, i]` in its loop and has a quadratic backward on CPU (measured on this VM: 8.7 s backward "
        "at L 256, 30 s at L 512), so against it the ratios are far larger.",
        "",
        "| B | d_inner | L | eventar s | mambapy pscan s | reference s | vs reference | reference, linear from L 256 s | vs that | vs mambapy | mamba-ssm-style indexed loop s (vs eventar) | max rel. diff vs mambapy (out / dA / dB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (b, d, l, n, med, diffs, ref_key, ev) in rows:
        ref = med["reference"]
        ref_l = int(ref_key.split("=")[1][:-1])
        ref_txt = f"{ref:.2f}" + ("" if ref_l == l else f" (timed at L={ref_l}, ×{l / ref_l:g})")
        lin = med.get("reference (linear from L=256)")
        lin_txt = f"{lin:.2f} | {lin / ev:.1f}×" if lin is not None else "(= reference) | –"
        lines.append(f"| {b} | {d} | {l} | {ev:.3f} | {med['mambapy pscan']:.3f} | {ref_txt} | "
                     f"{ref / ev:.1f}× | {lin_txt} | {med['mambapy pscan'] / ev:.1f}× | "
                     + (f"{med['mamba-ssm-style indexed loop']:.2f} ({med['mamba-ssm-style indexed loop'] / ev:.0f}×) | "
                        if "mamba-ssm-style indexed loop" in med else "not run (quadratic) | ")
                     + f"{diffs['out']:.0e} / {diffs['A']:.0e} / {diffs['B']:.0e} |")
    b, d, l, n, med, diffs, ref_key, ev = rows[-1]
    ref_l = int(ref_key.split("=")[1][:-1])
    verdicts = [f"{med['reference'] / ev:.1f}× the reference timed at L {ref_l}"
                + ("" if ref_l == l else f" and scaled ×{l / ref_l:g}")
                + f" ({'met' if med['reference'] / ev >= 10 else 'missed'})"]
    lin = med.get("reference (linear from L=256)")
    if lin is not None:
        verdicts.append(f"{lin / ev:.1f}× its linear extrapolation from L 256 ({'met' if lin / ev >= 10 else 'missed'})")
    verdicts.append(f"{med['mambapy pscan'] / ev:.1f}× mambapy ({'met' if med['mambapy pscan'] >= ev else 'missed'})")
    lines += [
        "",
        f"Issue #7 target at B {b}, d_inner {d}, L {l} (≥ 10× the sequential reference and at least as "
        f"fast as mambapy's pscan, one process): " + ", ".join(verdicts) + ".",
    ]
    print("\n".join(lines))
    if args.write:
        update_results_section("Selective scan", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
