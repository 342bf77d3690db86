"""Every registered model variant: forward + backward on a tiny input, finite outputs, and a
gradient for every parameter.  New families are picked up automatically through the convention in
``eventar.models._registry`` (module-level ``example_input``, optional ``smoke_overrides`` and
``smoke_forward``)."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch

import eventar
from eventar.errors import ConfigError
from eventar.models import _registry


def _family(name):
    return sys.modules[_registry._MODELS[name].__module__]


def _params():
    out = []
    for name in eventar.list_models():
        fam = _family(name)
        small = hasattr(fam, "smoke_overrides") or name.endswith("_synthetic")
        out.append(pytest.param(name, marks=() if small else (pytest.mark.slow,)))
    return out


@pytest.mark.parametrize("name", _params())
def test_forward_backward_every_variant(name):
    fam = _family(name)
    assert hasattr(fam, "example_input"), (
        f"model family {fam.__name__} must define example_input(model, batch_size) (see eventar.models._registry)")
    overrides = fam.smoke_overrides(name) if hasattr(fam, "smoke_overrides") else {}
    torch.manual_seed(0)
    model = eventar.create_model(name, **overrides).train()
    x = fam.example_input(model, 2)
    out = fam.smoke_forward(model, x) if hasattr(fam, "smoke_forward") else model(x)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if torch.is_tensor(o)]
    assert outs and outs[0].shape[-1] >= 2 and outs[0].shape[-2 if outs[0].dim() == 2 else 1] == 2
    for o in outs:
        assert torch.isfinite(o).all(), f"{name}: non-finite output"
    gen = torch.Generator().manual_seed(1)
    loss = sum((o.float() * torch.randn(o.shape, generator=gen)).sum() for o in outs)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: parameters without gradient: {missing[:10]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:10]}"


def test_registry_lists_and_rejects_unknown_names():
    names = eventar.list_models("spikepoint_*")
    assert {"spikepoint_dvsgesture", "spikepoint_dailydvs", "spikepoint_dvsaction", "spikepoint_hmdb51dvs",
            "spikepoint_ucf101dvs", "spikepoint_synthetic"} <= set(names)
    assert names == sorted(names)
    with pytest.raises(ConfigError, match="spikepoint_dvsgesture"):
        eventar.create_model("spikepoint_dvsgestur")
    importlib.import_module("eventar.models._families")   # idempotent
    assert eventar.list_models() == sorted(set(eventar.list_models()))
