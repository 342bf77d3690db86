"""``eventar energy``: a run folder through the training engine's data pipeline, and a bare model."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from eventar.cli import main
from eventar.errors import EventarError
from eventar.models import _registry

T, H = 4, 8


class _TinySNN(nn.Module):
    """x: (B, T, 2, H, W) event counts -> binary frames -> spikes -> logits (B, classes)."""

    frames = T

    def __init__(self, num_classes=11):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4 * H * H, num_classes)

    def forward(self, x):
        b = x.shape[0]
        s = (x > 0).float().flatten(0, 1)  # binary frames
        h = (self.conv(s) > 0).float()
        return self.fc(h.flatten(1)).view(b, T, -1).mean(1)


def energy_cli_tiny_snn(**overrides):
    """Tiny conv SNN used by the energy CLI tests."""
    return _TinySNN(**overrides)


def _prepare_frames(events, sensor_size):
    """events -> (1, T, 2, H, H) event counts (one sample per recording)."""
    w, h, _ = sensor_size
    t = events["t"]
    bins = np.minimum((t - t.min()) * T // max(1, int(t.max() - t.min()) + 1), T - 1)
    out = np.zeros((1, T, 2, H, H), np.float32)
    np.add.at(out[0], (bins, events["p"].astype(int), events["y"] * H // h, events["x"] * H // w), 1)
    return out


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    """Register the tiny model and its input only for these tests (the registries are global)."""
    from eventar.train import inputs

    _registry._load_families()
    monkeypatch.setitem(_registry._MODELS, "energy_cli_tiny_snn", energy_cli_tiny_snn)
    monkeypatch.setitem(inputs._INPUTS, "energy_cli_frames",
                        lambda: inputs.InputSpec(prepare=_prepare_frames, cache_key="energy_cli_frames:1"))


def _make_run(tmp_path):
    from eventar.train.checkpoint import save_weights
    from eventar.train.config import resolve, save_config

    cfg = resolve({"name": "energy_cli", "model": {"name": "energy_cli_tiny_snn", "args": {}},
                   "data": {"dataset": "synthetic_gestures", "root": str(tmp_path / "data"),
                            "args": {"n_per_class": 1}, "cache_dir": str(tmp_path / "cache")},
                   "input": {"name": "energy_cli_frames", "args": {}},
                   "train": {"eval_batch_size": 4}, "energy": {"batches": 2}})
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    torch.manual_seed(0)
    save_weights(_TinySNN(), run / "best.safetensors")
    return run


def test_energy_cli_on_a_run_folder_writes_three_files(tmp_path, capsys):
    run = _make_run(tmp_path)
    assert main(["energy", str(run), "--cost", "45nm_int8"]) == 0
    out = capsys.readouterr().out
    assert "SNN / ANN" in out and "45nm_int8" in out
    data = json.loads((run / "energy.json").read_text())
    assert data["meta"]["model"] == "energy_cli_tiny_snn"
    assert data["meta"]["source"]["weights"] == "best.safetensors" and data["meta"]["source"]["split"] == "test"
    assert data["meta"]["n_samples"] == 8 and data["meta"]["time_steps"] == T and data["meta"]["time_axis"] == 1
    names = [row["name"] for row in data["layers"]]
    assert names == ["conv", "fc"]
    assert all(row["input_kind"] == "binary" for row in data["layers"])
    assert data["totals"]["energy_pj"] == pytest.approx(data["totals"]["sops"] * 0.03)
    assert (run / "energy.md").read_text().startswith("# Energy estimate")
    assert (run / "energy.png").stat().st_size > 1000


def test_energy_cli_bare_model_random_spikes(tmp_path, capsys):
    assert main(["energy", "--model", "energy_cli_tiny_snn", "--shape", f"3,{T},2,{H},{H}", "--rate", "0.25",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "energy.json").read_text())
    conv = data["layers"][0]
    assert conv["input_rate"] == pytest.approx(0.25, abs=0.05)
    assert data["meta"]["n_samples"] == 3


def test_energy_cli_errors(tmp_path, capsys):
    assert main(["energy"]) == 1
    assert "exactly one" in capsys.readouterr().err
    assert main(["energy", str(tmp_path)]) == 1
    assert "no config.yaml" in capsys.readouterr().err
    assert main(["energy", "--model", "energy_cli_tiny_snn", "--shape", "2,x"]) == 1
    assert main(["energy", "--model", "energy_cli_tiny_snn", "--shape", "2,4", "--time-axis", "later"]) == 1
    with pytest.raises(EventarError):
        from eventar.cli.energy import _shape

        _shape("0,3")


def test_energy_cli_config_with_model_override(tmp_path, capsys):
    run = _make_run(tmp_path)
    out = tmp_path / "out"
    assert main(["energy", "--config", str(run / "config.yaml"), "--model", "energy_cli_tiny_snn", "--batches", "1",
                 "--out", str(out)]) == 0
    data = json.loads((out / "energy.json").read_text())
    assert data["meta"]["source"]["weights"] == "untrained (random init)"
    assert data["meta"]["n_samples"] == 4  # one batch of eval_batch_size 4
