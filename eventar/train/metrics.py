"""Evaluation metrics: per-window top-1/top-k, per-recording majority vote, confusion matrix.

A recording is cut into several windows (samples); each window is classified on its own, and the
recording's prediction is the class most of its windows voted for (ties broken by the summed class
scores).  :class:`Evaluation` accumulates counts batch by batch; :meth:`Evaluation.reduce` sums
them over DDP processes, so the result does not depend on how the windows were sharded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..io.atomic import atomic_output
from .distributed import World, all_reduce_sum


class Evaluation:
    """Counts for one pass over an evaluation set.

    Args:
        num_classes: C.
        recording_labels: (R,) int label of every recording of the set (index = recording id).
        top_k: the k of the top-k accuracy (clipped to C).
    """

    def __init__(self, num_classes: int, recording_labels: Sequence[int], top_k: int = 5):
        self.num_classes = int(num_classes)
        self.top_k = max(1, min(int(top_k), self.num_classes))
        self.recording_labels = torch.as_tensor(np.asarray(recording_labels), dtype=torch.long)
        r = len(self.recording_labels)
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.float64)  # [true, pred]
        self.votes = torch.zeros(r, self.num_classes, dtype=torch.float64)  # window votes per recording
        self.score_sums = torch.zeros(r, self.num_classes, dtype=torch.float64)  # tie-breaker
        self.topk_correct = torch.zeros(1, dtype=torch.float64)
        self.loss_sum = torch.zeros(1, dtype=torch.float64)

    def update(self, scores: torch.Tensor, target: torch.Tensor, recording: torch.Tensor, loss_sum: float = 0.0) -> None:
        """Add a batch.

        Args:
            scores: (B, C) class scores (logits, rates or probabilities: only the order matters).
            target: (B,) int labels.
            recording: (B,) int recording id of every window.
            loss_sum: the batch's summed (not averaged) loss.
        """
        scores = scores.detach().float().cpu()
        target = target.detach().cpu().long()
        recording = recording.detach().cpu().long()
        pred = scores.argmax(dim=1)
        self.confusion.index_put_((target, pred), torch.ones(len(target), dtype=torch.float64), accumulate=True)
        topk = scores.topk(self.top_k, dim=1).indices
        self.topk_correct += (topk == target[:, None]).any(dim=1).sum().double()
        self.votes.index_put_((recording, pred), torch.ones(len(pred), dtype=torch.float64), accumulate=True)
        probs = torch.softmax(scores.double(), dim=1)
        self.score_sums.index_add_(0, recording, probs)
        self.loss_sum += float(loss_sum)

    def reduce(self, world: World) -> "Evaluation":
        """Sum every count over the processes of ``world`` (in place); returns self."""
        for t in (self.confusion, self.votes, self.score_sums, self.topk_correct, self.loss_sum):
            dev = torch.device("cuda", world.local_rank) if world.device.type == "cuda" else torch.device("cpu")
            buf = t.to(dev)
            all_reduce_sum(buf, world)
            t.copy_(buf.cpu())
        return self

    def recording_predictions(self) -> torch.Tensor:
        """(R,) majority-vote class of each recording; -1 for recordings with no window."""
        has = self.votes.sum(dim=1) > 0
        # Lexicographic (votes, summed probability): probabilities sum to <= n_windows < 1e6.
        key = self.votes * 1e6 + self.score_sums
        pred = key.argmax(dim=1)
        pred[~has] = -1
        return pred

    def summary(self) -> Dict[str, float]:
        """``acc`` (per window), ``acc_topk``, ``acc_recording`` (majority vote), ``loss``, counts."""
        n = float(self.confusion.sum())
        pred = self.recording_predictions()
        has = pred >= 0
        n_rec = int(has.sum())
        rec_correct = int((pred[has] == self.recording_labels[has]).sum())
        return {
            "acc": float(self.confusion.diag().sum()) / n if n else float("nan"),
            f"acc_top{self.top_k}": float(self.topk_correct) / n if n else float("nan"),
            "acc_recording": rec_correct / n_rec if n_rec else float("nan"),
            "loss": float(self.loss_sum) / n if n else float("nan"),
            "n_windows": int(n),
            "n_recordings": n_rec,
        }


def save_confusion(confusion: torch.Tensor, classes: Optional[List[str]], run_dir: "os.PathLike[str] | str", stem: str = "confusion") -> None:
    """Write ``<stem>.json`` (counts, rows = true class, columns = predicted) and ``<stem>.png``.

    Args:
        confusion: (C, C) counts.
        classes: C class names (None = "0".."C-1").
    """
    run_dir = Path(run_dir)
    c = confusion.shape[0]
    names = list(classes) if classes is not None else [str(i) for i in range(c)]
    counts = confusion.round().long().tolist()
    with atomic_output(run_dir / f"{stem}.json", force=True, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps({"classes": names, "rows": "true", "columns": "predicted", "counts": counts}, indent=1))
    _plot_confusion(np.asarray(counts, dtype=np.float64), names, run_dir / f"{stem}.png")


def _plot_confusion(counts: np.ndarray, names: List[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    row = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, row, out=np.zeros_like(counts), where=row > 0)
    c = len(names)
    size = min(4 + 0.35 * c, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 40:
        ax.set_xticks(range(c), names, rotation=90, fontsize=7)
        ax.set_yticks(range(c), names, fontsize=7)
    if c <= 20:
        for i in range(c):
            for j in range(c):
                if counts[i, j]:
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if frac[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    fig.tight_layout()
    with atomic_output(path, force=True, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
