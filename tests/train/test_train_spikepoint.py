"""The make-run path at toy size: SyntheticGestures -> point-cloud windows -> SpikePoint -> eval, energy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventar.train import train
from eventar.train.config import load_config
from eventar.train.data import load_or_prepare
from eventar.train.inputs import build_input

from conftest import REPO_ROOT


def _overrides(tmp_path, **extra):
    base = {
        "name": "sp",
        "data.root": str(tmp_path / "data"),
        "data.cache_dir": str(tmp_path / "cache"),
        "data.args": "{n_per_class: 2}",
        "model.args": "{n_points: 32, n_groups: 8, k: 4, timesteps: 2}",
        "input.args.n_points": 32,
        "train.epochs": 1,
        "train.batch_size": 8,
        "train.progress": "never",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def test_points_input_windows_every_recording_and_keeps_its_index(tmp_path):
    cfg = load_config(REPO_ROOT / "experiments" / "spikepoint_synthetic.yaml", _overrides(tmp_path))
    spec = build_input(cfg["input"]["name"], **cfg["input"]["args"])
    s = load_or_prepare(cfg, "test", spec)
    assert s.x.shape[1:] == (32, 3) and s.x.dtype == np.float32
    assert s.x.min() >= 0.0 and s.x.max() <= 1.0
    assert len(s.rec_labels) == 22 and s.classes[0] == "rotate_cw"
    assert (s.y == s.rec_labels[s.rec]).all()  # each window carries its recording's label
    again = load_or_prepare(cfg, "test", spec)  # second call reads the cache: identical
    np.testing.assert_array_equal(again.x, s.x)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_spikepoint_trains_and_reports_energy_end_to_end(tmp_path):
    res = train(str(REPO_ROOT / "experiments" / "spikepoint_synthetic.yaml"), _overrides(tmp_path),
                out=str(tmp_path / "runs"), log=lambda s: None)
    run = tmp_path / "runs" / "sp"
    m = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= m["test_acc"] <= 1.0 and np.isfinite(m["train_loss"])
    assert (run / "best.safetensors").is_file() and (run / "confusion.png").is_file()
    try:
        from eventar.energy import estimate_energy  # noqa: F401
    except ImportError:
        pytest.skip("eventar.energy not available")
    assert (run / "energy.json").is_file() and (run / "energy.md").is_file()
    assert res["energy_total_pj"] > 0
