"""A tiny dataset, input and model for the engine tests (seconds on a CPU).

Recordings of class c are events clustered around x = (c + 0.5) * W / C; the ``tiny_hist`` input
cuts each recording into two halves (two samples -> majority vote has something to do) and
turns each into a normalised (4 x 4) x/y histogram; ``tiny_mlp`` is Linear-ReLU-Dropout-Linear.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from eventar.events import make_events
from eventar.models import _registry
from eventar.train import data as train_data
from eventar.train import inputs as train_inputs

W = H = 32
C = 3


class TinyBlobs:
    sensor_size = (W, H, 2)
    classes = [f"blob{i}" for i in range(C)]

    def __init__(self, root=None, split="train", n_per_class=8, seed=0):
        self.n = n_per_class * C
        self.seed = seed + (0 if split == "train" else 1000)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        label = i % C
        rng = np.random.default_rng([self.seed, i])
        n = 200
        x = np.clip(rng.normal((label + 0.5) * W / C, 4.0, n), 0, W - 1).astype(np.uint16)
        y = rng.integers(0, H, n).astype(np.uint16)
        t = np.sort(rng.integers(0, 100_000, n))
        p = rng.integers(0, 2, n).astype(np.uint8)
        return make_events(t, x, y, p), label


def tiny_hist(bins: int = 4) -> train_inputs.InputSpec:
    def prepare(events, sensor_size):
        w, h, _ = sensor_size
        half = len(events) // 2
        out = []
        for part in (events[:half], events[half:]):
            hist, _, _ = np.histogram2d(part["x"], part["y"], bins=bins, range=[[0, w], [0, h]])
            out.append((hist / max(1, len(part))).reshape(-1))
        return np.stack(out).astype(np.float32)

    return train_inputs.InputSpec(prepare=prepare, cache_key=f"tiny_hist:{bins}")


def tiny_mlp(num_classes: int = C, in_features: int = 16, hidden: int = 16, dropout: float = 0.2):
    torch_layers = [nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)]
    return nn.Sequential(*torch_layers)


def install() -> None:
    """Register the tiny dataset / input / model (idempotent)."""
    train_data.register_dataset("tiny_blobs")(lambda root, split, **kw: TinyBlobs(root, split, **kw))
    if "tiny_hist" not in train_inputs.list_inputs():
        train_inputs.register_input("tiny_hist")(tiny_hist)
    _registry._MODELS["tiny_mlp"] = tiny_mlp


def uninstall() -> None:
    """Remove the tiny model from the global registry (other test modules list every model)."""
    _registry._MODELS.pop("tiny_mlp", None)
    train_data._DATASETS.pop("tiny_blobs", None)
    train_inputs._INPUTS.pop("tiny_hist", None)


def overrides(tmp_path, **extra):
    """Dotted overrides for a tiny run writing only under ``tmp_path``."""
    base = {
        "model.name": "tiny_mlp",
        "data.dataset": "tiny_blobs",
        "data.cache_dir": str(tmp_path / "cache"),
        "input.name": "tiny_hist",
        "train.epochs": 3,
        "train.batch_size": 4,
        "train.eval_batch_size": 8,
        "train.lr": 0.01,
        "train.warmup_epochs": 1,
        "train.progress": "never",
        "energy.enabled": False,
        "seed": 3,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def read_weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))
