"""Checkpoints: safetensors weights, weights_only training state, atomic writes, clear errors."""

from __future__ import annotations

import datetime
import random

import numpy as np
import pytest
import torch
from torch import nn

from eventar.errors import CheckpointError
from eventar.train import checkpoint as ckpt


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_weights_round_trip_including_buffers(tmp_path):
    a = _model(0)
    a[1].running_mean.fill_(0.5)
    ckpt.save_weights(a, tmp_path / "w.safetensors", {"epoch": "3"})
    b = _model(1)
    ckpt.load_weights(b, tmp_path / "w.safetensors")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "w.safetensors"), "pt") as f:  # plain safetensors, with metadata
        assert f.metadata()["epoch"] == "3"


def test_state_loads_with_weights_only_and_restores_rng(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** s)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    sched.step()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = {"epoch": 1, "step_in_epoch": 2, "global_step": 7, "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "rng": ckpt.rng_state()}
    ckpt.save_state(state, tmp_path / "s.pt")
    expect = (random.random(), np.random.rand(), torch.rand(1))
    raw = torch.load(tmp_path / "s.pt", weights_only=True)  # the safe loader accepts it
    assert raw["global_step"] == 7
    loaded = ckpt.load_state(tmp_path / "s.pt")
    ckpt.set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand()) == expect[:2] and torch.equal(torch.rand(1), expect[2])
    opt2 = torch.optim.Adam(_model().parameters(), lr=1e-3)
    opt2.load_state_dict(loaded["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_state_that_needs_pickle_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="weights_only"):
        ckpt.save_state({"epoch": 0, "when": datetime.datetime(2026, 1, 1)}, tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()
    assert not list(tmp_path.iterdir())  # the temporary file is gone too


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_files_raise_checkpoint_error_naming_the_file(tmp_path, damage):
    ckpt.save_weights(_model(), tmp_path / "w.safetensors")
    ckpt.save_state({"epoch": 0, "step_in_epoch": 0, "global_step": 0, "optimizer": {}, "scheduler": {}}, tmp_path / "s.pt")
    for name in ("w.safetensors", "s.pt"):
        p = tmp_path / name
        data = p.read_bytes()
        p.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00garbage" * 8, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="w.safetensors"):
        ckpt.load_weights(_model(), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="s.pt"):
        ckpt.load_state(tmp_path / "s.pt")


def test_missing_and_mismatched(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load_weights(_model(), tmp_path / "nope.safetensors")
    ckpt.save_weights(_model(), tmp_path / "w.safetensors")
    other = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    with pytest.raises(CheckpointError, match=r"shape mismatch 0.weight: file \(3, 4\) vs model \(5, 4\)"):
        ckpt.load_weights(other, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="missing keys"):
        ckpt.load_weights(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2), nn.Linear(2, 2)), tmp_path / "w.safetensors")
    torch.save({"epoch": 1}, tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        ckpt.load_state(tmp_path / "s.pt")


def test_unwrap_removes_ddp_like_wrappers():
    inner = _model()

    class Wrapper(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.module = m

    assert ckpt.unwrap(Wrapper(inner)) is inner
    assert ckpt.unwrap(inner) is inner
