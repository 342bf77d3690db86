"""``eventar eval RUN_DIR``: evaluate a run's weights (per window, per recording, top-k, confusion).

    eventar eval runs/spikepoint_synthetic-20260101-120000 --split test --weights best
"""

from __future__ import annotations

import argparse


def register(sub: "argparse._SubParsersAction") -> None:
    """Add the ``eval`` sub-command."""
    p = sub.add_parser(
        "eval",
        help="evaluate a training run folder",
        description="Evaluate RUN_DIR's best (or last) weights on a split; writes eval_<split>_<weights>.json "
        "and confusion_<split>_<weights>.json/.png into RUN_DIR.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--weights", default="best", choices=("best", "last"), help="which checkpoint (default: best)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..train import evaluate_run

    evaluate_run(args.run_dir, split=args.split, weights=args.weights)
    return 0
