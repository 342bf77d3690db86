"""``eventar train``: train a model from an experiment YAML, or resume a run folder.

    eventar train --config experiments/spikepoint_synthetic.yaml train.epochs=5 train.lr=5e-4
    eventar train --resume runs/spikepoint_synthetic-20260101-120000
    torchrun --standalone --nproc_per_node 2 -m eventar train --config experiments/X.yaml
"""

from __future__ import annotations

import argparse


def register(sub: "argparse._SubParsersAction") -> None:
    """Add the ``train`` sub-command."""
    p = sub.add_parser(
        "train",
        help="train a model (experiments/*.yaml; DDP under torchrun)",
        description="Train from an experiment YAML with dotted key=value overrides, or resume a run folder. "
        "Writes runs/<name>/ (config.yaml, env.json, metrics.jsonl, last/best checkpoints, confusion matrix, energy report).",
    )
    p.add_argument("--config", "-c", help="experiment YAML (e.g. experiments/spikepoint_synthetic.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY.SUB=VALUE", help="config overrides, e.g. train.epochs=5")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last checkpoint")
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default: runs/)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..train import train

    if args.config is None and args.resume is None:
        raise ConfigError("give --config EXPERIMENT.yaml or --resume RUN_DIR")
    train(args.config, args.overrides, out=args.out, resume=args.resume)
    return 0
