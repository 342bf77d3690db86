"""``eventar energy``: per-layer SOPs / MACs / pJ of a trained run, an experiment, or a bare model.

    eventar energy runs/spikepoint_synthetic-20260101-120000            # best weights, 2 test batches
    eventar energy runs/X --weights last --batches 4 --cost 45nm_int8
    eventar energy --config experiments/spikmamba_synthetic.yaml --out /tmp/e   # untrained, real data pipeline
    eventar energy --config experiments/X.yaml --model spikepoint_dvsgesture     # another model, same pipeline
    eventar energy --model spikmamba_synthetic --shape 2,8,2,32,32 --rate 0.1  # random spikes

Writes ``energy.json``, ``energy.md`` and ``energy.png`` (into RUN_DIR, or ``--out``) and prints the
summary table.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: "argparse._SubParsersAction") -> None:
    """Add the ``energy`` sub-command."""
    p = sub.add_parser(
        "energy",
        help="estimate energy per sample (SOPs, MACs, pJ per layer)",
        description="Energy estimate of a run folder's weights on its test batches, of an experiment YAML's "
        "model (random init) on its data pipeline, or of a registered model on random input. Writes "
        "energy.json / energy.md / energy.png and prints the table. Convention: spikes priced as ACs "
        "(E_AC), real-valued inputs as MACs (E_MAC), neuron updates shown separately, memory traffic excluded.",
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a training run folder (has config.yaml)")
    p.add_argument("--config", "-c", help="experiment YAML instead of a run folder (model not trained)")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY.SUB=VALUE", help="config overrides (with --config)")
    p.add_argument("--model", help="a registered model name: fed random input of --shape, or with --config "
                   "the experiment's data pipeline")
    p.add_argument("--shape", help="input shape for --model, comma-separated, e.g. 2,8,2,32,32")
    p.add_argument("--rate", type=float, default=None,
                   help="with --model: Bernoulli spike input of this rate in [0, 1] (default: real-valued U[0, 1))")
    p.add_argument("--weights", default="best", choices=("best", "last"), help="run checkpoint (default: best)")
    p.add_argument("--split", default="test", help="dataset split for the batches (default: test)")
    p.add_argument("--batches", type=int, default=None, help="number of batches (default: config energy.batches)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: config eval_batch_size)")
    p.add_argument("--cost", default=None, help="45nm_fp32 (default), 45nm_fp16, 45nm_int8, or a JSON/YAML table")
    p.add_argument("--time-axis", default="auto", help="axis of T in the input: 0, 1, none or auto (default)")
    p.add_argument("--time-steps", type=int, default=None, help="T when the input has no time axis")
    p.add_argument("--integer-inputs", default="mac", choices=("mac", "ac"),
                   help="price integer-valued inputs (sums of spikes) as MACs (default) or value-weighted ACs")
    p.add_argument("--out", help="output folder (default: RUN_DIR; none with --model/--config: print only)")
    p.add_argument("--seed", type=int, default=0, help="seed for random input and the model's own sampling")
    p.set_defaults(func=_run)


def _time_axis(text: str):
    from ..errors import ConfigError

    t = str(text).strip().lower()
    if t == "auto":
        return "auto"
    if t in ("none", "null", ""):
        return None
    try:
        return int(t)
    except ValueError:
        raise ConfigError(f"--time-axis must be an integer, 'none' or 'auto', got {text!r}") from None


def _shape(text: str):
    from ..errors import ConfigError

    try:
        shape = tuple(int(v) for v in text.split(","))
    except (ValueError, AttributeError):
        raise ConfigError(f"--shape must be comma-separated integers like 2,8,2,32,32, got {text!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise ConfigError(f"--shape must be positive integers, got {text!r}")
    return shape


def _pipeline_batches(cfg, split: str, n_batches: int, batch_size: int):
    """(model, spec, batches) from a resolved config through the training engine's data pipeline."""
    from ..train.data import SampleDataset, load_or_prepare, loader
    from ..train.engine import build_model
    from ..train.inputs import build_input

    spec = build_input(cfg["input"]["name"], **cfg["input"]["args"])
    samples = load_or_prepare(cfg, split, spec, write=True)
    model = build_model(cfg, samples.num_classes)
    n = min(len(samples), batch_size * n_batches)
    idx = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    batches = [x for x, _, _ in loader(SampleDataset(samples), idx, spec.collate)]
    return model, spec, batches


def _run(args: argparse.Namespace) -> int:
    import torch

    from ..energy import estimate_energy
    from ..errors import CheckpointError, ConfigError

    if args.config and args.run_dir and "=" in args.run_dir:  # argparse gives the first override to RUN_DIR
        args.overrides, args.run_dir = [args.run_dir, *args.overrides], None
    if args.config and args.model:  # the experiment's data pipeline with another registered model
        args.overrides, args.model = [*args.overrides, f"model.name={args.model}"], None
    modes = [m for m in (args.run_dir, args.config, args.model) if m]
    if len(modes) != 1:
        raise ConfigError("give exactly one of RUN_DIR, --config EXPERIMENT.yaml (optionally with --model NAME) "
                          "or --model NAME --shape ...")
    time_axis = _time_axis(args.time_axis)
    out = Path(args.out) if args.out else None
    torch.manual_seed(args.seed)
    forward = None
    cost = args.cost
    name = None
    if args.model:
        from ..models import create_model

        if not args.shape:
            raise ConfigError("--model needs --shape (e.g. --shape 2,8,2,32,32)")
        shape = _shape(args.shape)
        model = create_model(args.model)
        g = torch.Generator().manual_seed(args.seed)
        if args.rate is not None:
            if not 0.0 <= args.rate <= 1.0:
                raise ConfigError(f"--rate must be in [0, 1], got {args.rate}")
            x = (torch.rand(shape, generator=g) < args.rate).float()
        else:
            x = torch.rand(shape, generator=g)
        batches, name = [x], args.model
        source = {"input": f"random {'Bernoulli(' + str(args.rate) + ') spikes' if args.rate is not None else 'U[0, 1) values'}"
                           f" of shape {list(shape)}", "seed": args.seed}
    else:
        from ..train.checkpoint import load_weights
        from ..train.config import load_config

        if args.run_dir:
            run = Path(args.run_dir)
            if not (run / "config.yaml").is_file():
                raise CheckpointError(f"{run}: not a run folder (no config.yaml)")
            cfg = load_config(run / "config.yaml", args.overrides)
            out = out or run
        else:
            cfg = load_config(args.config, args.overrides)
        n_batches = args.batches or cfg["energy"]["batches"]
        batch_size = args.batch_size or cfg["train"]["eval_batch_size"]
        model, spec, batches = _pipeline_batches(cfg, args.split, n_batches, batch_size)
        if args.run_dir:
            load_weights(model, Path(args.run_dir) / f"{args.weights}.safetensors")
        forward = lambda m, x: spec.forward(m, x)  # noqa: E731 - the engine's own call convention
        cost = cost or cfg["energy"]["cost"]
        name = cfg["model"]["name"]
        source = {"run_dir": str(args.run_dir) if args.run_dir else None, "config": args.config,
                  "weights": f"{args.weights}.safetensors" if args.run_dir else "untrained (random init)",
                  "dataset": cfg["data"]["dataset"], "split": args.split, "input": cfg["input"]["name"]}
        torch.manual_seed(cfg["seed"])
    report = estimate_energy(model, batches, cost=cost or "45nm_fp32", time_axis=time_axis,
                             time_steps=args.time_steps, integer_inputs=args.integer_inputs, forward=forward,
                             model_name=name)
    report.meta["source"] = source
    print(report.summary())
    if out is not None:
        paths = report.write(out)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
