"""eventar's own families through estimate_energy: the selective scan priced inside SpikMamba, and
the one-call helper for the end of training."""

import pytest
import torch

import eventar
from eventar.energy import estimate_energy, report_for_model


def test_spikmamba_scan_is_priced_per_direction_and_layout_is_batch_first():
    scan = pytest.importorskip("eventar.nn.scan")
    from eventar.models import spikmamba

    model = eventar.create_model("spikmamba_synthetic", **spikmamba.smoke_overrides("spikmamba_synthetic"))
    x = spikmamba.example_input(model, 2)  # (B=2, T=8, C, H, W) count frames
    rep = estimate_energy(model, x)
    assert rep.meta["time_axis"] == 1 and rep.meta["time_steps"] == model.frames and rep.meta["n_samples"] == 2
    rows = [r for r in rep.layers if r["op"] == "selective_scan"]
    assert len(rows) == 1 and rows[0]["calls"] == 2  # forward and backward directions of the bidirectional block
    b, d_inner, length = rows[0]["input_shape"]  # u: (B, d_inner, L), L = all frames' tokens
    assert b == 2 and length % model.frames == 0
    d_state = next(m.A_log.shape[1] for m in model.modules() if hasattr(m, "A_log"))
    per_call = scan.scan_op_count(b, d_inner, length, d_state, has_D=True, has_z=True)["mac"]
    assert rows[0]["macs"] == 2 * per_call / b  # two directions, per sample
    assert rows[0]["priced_as"] == "MAC"
    assert rep.layer("head")["input_kind"] == "real"


def test_report_for_model_prints_and_writes(tmp_path):
    lines = []
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    rep = report_for_model(net, torch.ones(2, 1, 4), run_dir=tmp_path, print_fn=lines.append, time_axis=0)
    assert lines == [rep.summary()]
    assert {p.name for p in tmp_path.iterdir()} == {"energy.json", "energy.md", "energy.png"}
    assert rep.total_pj == pytest.approx(2 * 4 * 3 * 0.9)


def test_eventtransact_is_priced_as_an_ann():
    """EventTransAct has no spiking neurons: every op is a MAC at E_MAC, none is an AC."""
    from eventar.models.eventtransact import example_input

    model = eventar.create_model("eventtransact_synthetic", num_classes=4).eval()
    rep = estimate_energy(model, example_input(model, batch_size=2, frames=4))
    assert rep.layers and all(r["priced_as"] == "MAC" for r in rep.layers)
    macs = sum(r["macs"] for r in rep.layers)
    assert macs > 0 and rep.total_pj == pytest.approx(4.6 * macs, rel=1e-6)
    assert not rep.neurons
