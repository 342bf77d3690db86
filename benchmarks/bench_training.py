"""Training throughput of SpikePoint on the CPU, and achieved GFLOP/s against the machine's matmul peak.

    .venv/bin/python benchmarks/bench_training.py [--config experiments/spikepoint_synthetic.yaml]
        [--batch 32] [--repeats 5] [--threads 0] [--write]

The model and its arguments come from the experiment YAML (default: the `make run` config).

One "step" is what the engine does per batch: forward, the config's loss, backward, Adam update.  Its FLOPs
(matmul/conv, forward + backward) are counted once with ``torch.utils.flop_counter``; GFLOP/s =
FLOPs / median step time.  The reference is a square fp32 matmul of about the same total work run
in the same process, interleaved with the training steps (each repeat runs both), so machine noise
hits both alike.  The ratio says how far the spiking model is from the dense-matmul roofline (its
time goes to grouping, rate coding and the neuron loop, which are not matmuls).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_interleaved, machine, update_results_section  # noqa: E402


def make_step(model_name: str, batch: int, overrides: dict, loss_name: str = "cross_entropy", spec=None):
    """A zero-argument callable running one training step (the engine's loss), plus its FLOP count
    and model info."""
    import eventar
    from eventar.train.engine import compute_loss

    torch.manual_seed(0)
    model = eventar.create_model(model_name, **overrides)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cfg = model.cfg
    x = torch.rand(batch, cfg.n_points, 3)
    y = torch.randint(0, cfg.num_classes, (batch,))

    def step():
        out = model(x)
        loss = compute_loss(loss_name, out, y, spec, cfg.num_classes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    from torch.utils.flop_counter import FlopCounterMode

    step()  # warm-up (numba compilation, allocator)
    with FlopCounterMode(display=False) as fc:
        step()
    n_params = sum(p.numel() for p in model.parameters())
    return step, fc.get_total_flops(), n_params, cfg


def make_matmul(flops: float):
    """A square fp32 matmul C = A @ B with about ``flops`` floating-point operations (>= 256^3 * 2)."""
    n = max(256, int(round((flops / 2) ** (1 / 3))))
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: torch.mm(a, b)), 2.0 * n**3, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "experiments" / "spikepoint_synthetic.yaml"),
                    help="experiment YAML whose model.name / model.args are benchmarked")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--write", action="store_true", help="update the 'Training' section of benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    if args.threads:
        from eventar.train.engine import set_threads

        set_threads(args.threads)  # torch and numba, as train.threads

    from eventar.train.config import load_config

    exp = load_config(args.config)
    model_name, model_args = exp["model"]["name"], dict(exp["model"]["args"])
    from eventar.train.inputs import build_input

    spec = build_input(exp["input"]["name"], **exp["input"]["args"])
    step, step_flops, n_params, cfg = make_step(model_name, args.batch, model_args, exp["train"]["loss"], spec)
    mm, mm_flops, n = make_matmul(step_flops)
    med = bench_interleaved({"train_step": step, "matmul": mm}, repeats=args.repeats, warmup=1)
    samples_s = args.batch / med["train_step"]
    achieved = step_flops / med["train_step"] / 1e9
    peak = mm_flops / med["matmul"] / 1e9
    rows = [
        f"| model | {model_name} {model_args} ({n_params / 1e6:.3f} M params; N={cfg.n_points}, M={cfg.n_groups}, k={cfg.k}, T={cfg.timesteps}) |",
        f"| batch | {args.batch} |",
        f"| step time (median of {args.repeats}) | {med['train_step'] * 1e3:.1f} ms |",
        f"| training throughput | **{samples_s:.1f} samples/s** |",
        f"| FLOPs per step (fwd + bwd, matmul/conv) | {step_flops / 1e9:.3f} GFLOP |",
        f"| achieved | {achieved:.2f} GFLOP/s |",
        f"| matmul peak ({n}x{n} fp32, same process, interleaved) | {peak:.1f} GFLOP/s |",
        f"| achieved / peak | {100 * achieved / peak:.1f} % |",
    ]
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "python benchmarks/bench_training.py " + " ".join(sys.argv[1:] if argv is None else argv)
    body = "\n".join(
        [
            f"Machine: {machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
            f"shared VM, 1-min load average {load:.1f} at the end of the run (noisy: figures are lower bounds).",
            "",
            f"Command: `{cmd.strip()}`",
            "",
            "| | |",
            "|---|---|",
            *rows,
        ]
    )
    print(body)
    if args.write:
        update_results_section("Training", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
