"""Energy counting overhead: eventar.energy.estimate_energy vs a plain forward pass and vs SpikingJelly's op_counter.

    .venv/bin/python benchmarks/bench_energy.py [--repeats 5] [--write]

For each model, one repeat runs, interleaved: the plain forward (eval, no_grad), eventar's
``estimate_energy`` on the same batch (counting + report), and SpikingJelly 2.x's
``DispatchCounterMode([SynOpCounter, MACCounter])``.  Medians and ratios to the plain forward are
printed (target: eventar <= 2x).  ``--spikepoint`` also prints SpikePoint's DVS128 Gesture variant
in the paper's units (docs/energy.md).  ``--write`` updates the "Energy counting" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_interleaved, machine, update_results_section  # noqa: E402


def _conv_snn():
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 32, 3, padding=1, step_mode="m"), layer.BatchNorm2d(32, step_mode="m"), neuron.LIFNode(step_mode="m"),
        layer.MaxPool2d(2, step_mode="m"),
        layer.Conv2d(32, 64, 3, padding=1, step_mode="m"), layer.BatchNorm2d(64, step_mode="m"), neuron.LIFNode(step_mode="m"),
        layer.MaxPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(64 * 8 * 8, 128, step_mode="m"), neuron.LIFNode(step_mode="m"),
        layer.Linear(128, 11, step_mode="m"),
    )
    x = (torch.rand(8, 4, 2, 32, 32) < 0.15).float()  # (T, B, C, H, W) spikes
    return "conv SNN (SpikingJelly layers), x (8, 4, 2, 32, 32) spikes", net, x, dict(time_axis=0)


def _spikepoint():
    import eventar

    torch.manual_seed(0)
    m = eventar.create_model("spikepoint_synthetic")
    return f"spikepoint_synthetic, x (4, {m.cfg.n_points}, 3) points, T = {m.cfg.timesteps}", m, m.example_input(4), {}


def _spikmamba():
    import eventar
    from eventar.models.spikmamba import example_input

    m = eventar.create_model("spikmamba_synthetic")
    return "spikmamba_synthetic, x (2, 8, 2, 32, 32) frames", m, example_input(m, 2), {}


def _sj_count(model, x):
    from spikingjelly.activation_based import functional, op_counter

    syn, mac = op_counter.SynOpCounter(), op_counter.MACCounter()
    with torch.no_grad(), op_counter.DispatchCounterMode([syn, mac]):
        model(x)
    functional.reset_net(model)
    return syn.get_total(), mac.get_total()


def _dispatch_floor(model, x):
    """The forward under a TorchDispatchMode that only forwards each op: what intercepting every aten
    op costs before anything is counted (eventar's and SpikingJelly's counters both intercept so)."""
    from spikingjelly.activation_based import functional
    from torch.utils._python_dispatch import TorchDispatchMode

    class _PassThrough(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), _PassThrough():
        model(x)
    functional.reset_net(model)


def overhead(repeats: int):
    from spikingjelly.activation_based import functional

    from eventar.energy import estimate_energy

    rows = []
    for build in (_conv_snn, _spikepoint, _spikmamba):
        desc, model, x, kw = build()
        model.eval()

        def plain(model=model, x=x):
            with torch.no_grad():
                model(x)
            functional.reset_net(model)

        fns = {
            "plain forward": plain,
            "no-op dispatch mode": lambda model=model, x=x: _dispatch_floor(model, x),
            "eventar estimate_energy": lambda model=model, x=x, kw=kw: estimate_energy(model, x, **kw),
            "SpikingJelly op_counter": lambda model=model, x=x: _sj_count(model, x),
        }
        # one interleaved round per call, so that each round gives a paired ratio (robust to load drift)
        bench_interleaved(fns, repeats=1, warmup=1)
        rounds = [bench_interleaved(fns, repeats=1, warmup=0) for _ in range(repeats)]
        med = {k: statistics.median(r[k] for r in rounds) for k in fns}
        ratio = {k: statistics.median(r[k] / r["plain forward"] for r in rounds) for k in fns}
        rows.append((desc, med, ratio))
        print(f"{desc}: " + ", ".join(f"{k} {med[k] * 1e3:.1f} ms ({ratio[k]:.2f}x)" for k in fns))
    return rows


def spikepoint_paper():
    """SpikePoint DVS128 Gesture variant (paper widths, N = 1024, T = 16) in the paper's units."""
    import eventar
    from eventar.energy import estimate_energy

    torch.manual_seed(0)
    m = eventar.create_model("spikepoint_dvsgesture")
    x = m.example_input(2)
    params = sum(p.numel() for p in m.parameters())
    out = {"params": params}
    out["eval"] = estimate_energy(m, x)
    out["eval_ac"] = estimate_energy(m, x, integer_inputs="ac")

    def batch_stats_forward(model, batch):
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.train()
        return model(batch)

    out["batchstats"] = estimate_energy(m, x, forward=batch_stats_forward)
    out["batchstats_ac"] = estimate_energy(m, x, forward=batch_stats_forward, integer_inputs="ac")
    return out


def _spikepoint_table(sp) -> str:
    lines = [
        f"SpikePoint DVS128 Gesture variant (`spikepoint_dvsgesture`, {sp['params'] / 1e6:.3f} M parameters, "
        "N = 1024 points, 1024 groups x 24 neighbours, T = 16), untrained weights, 2 random point clouds:",
        "",
        "| setting | dense MACs / step | SOPs (G) | MACs (G) | ops (G) | energy (mJ) | ANN-equiv. (mJ) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "eval": "eval BN (fresh running stats), integer inputs as MACs (default)",
        "eval_ac": "eval BN, integer inputs as ACs",
        "batchstats": "BN on batch statistics, integer inputs as MACs",
        "batchstats_ac": "BN on batch statistics, integer inputs as ACs",
    }
    for key, label in labels.items():
        t = sp[key].totals
        lines.append(f"| {label} | {t['dense_macs_per_step'] / 1e6:.1f} M | {t['sops'] / 1e9:.3f} | {t['macs'] / 1e9:.3f} | "
                     f"{t['ops'] / 1e9:.3f} | {t['energy_mj']:.3f} | {t['ann_energy_mj']:.3f} |")
    lines.append("| paper, Table 7 (trained) | - | - | - | 0.9 | 0.82 | 178.6 (TBR+I3D, a different ANN) |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--spikepoint", action="store_true", help="also print SpikePoint in the paper's units")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = overhead(args.repeats)
    sp = spikepoint_paper() if args.spikepoint else None
    if sp is not None:
        print(_spikepoint_table(sp))
    if args.write:
        cmd = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_energy.py --repeats " + str(args.repeats) + (
            " --spikepoint" if sp else "") + " --write"
        body = [
            f"Machine: {machine()}; torch {torch.__version__}, 1 thread; 2-core VM shared with other jobs (noisy).",
            f"Command: `{cmd}`",
            "",
            "Median wall time per call over interleaved rounds; in brackets the median over rounds of the ratio to the "
            "plain forward of the same round (target <= 2x for eventar).",
            "`estimate_energy` includes building the report; SpikingJelly counts SynOps + MACs only. "
            "*No-op dispatch mode* is the forward under a TorchDispatchMode that only passes each aten op on: "
            "the cost of intercepting ops at all, which both counters pay before counting anything.",
            "",
            "| model | plain forward | no-op dispatch mode | eventar estimate_energy | SpikingJelly op_counter |",
            "|---|---:|---:|---:|---:|",
        ]
        for desc, med, ratio in rows:
            ev, sj, nop = "eventar estimate_energy", "SpikingJelly op_counter", "no-op dispatch mode"
            body.append(f"| {desc} | {med['plain forward'] * 1e3:.1f} ms | {med[nop] * 1e3:.1f} ms ({ratio[nop]:.2f}x) | "
                        f"{med[ev] * 1e3:.1f} ms ({ratio[ev]:.2f}x) | {med[sj] * 1e3:.1f} ms ({ratio[sj]:.2f}x) |")
        if sp is not None:
            body += ["", _spikepoint_table(sp)]
        print("updated", update_results_section("Energy counting", "\n".join(body)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
