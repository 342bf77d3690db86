"""SpikePoint: parameter counts per paper variant, grouping features on a hand-made cloud, rate
coding, post-neuron residuals, the paper's loss, determinism and errors, and that it learns."""

from __future__ import annotations

import inspect
import math
import re
import statistics
from dataclasses import fields, replace

import pytest
import torch

import eventar
from eventar.errors import ConfigError, EventarError
from eventar.models.spikepoint import (PAPER_PARAMS_M, ResF, SpikePointConfig, group_features, rate_code,
                                       spikepoint_loss)


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(name):
    n = _n_params(eventar.create_model(name)) / 1e6
    assert abs(n - PAPER_PARAMS_M[name]) / PAPER_PARAMS_M[name] < 0.05, (name, n)


def test_parameter_count_by_hand_large_model():
    # D=64, C=10 (bias-free Conv1D + BN; classifier Linear with bias + BN), plus one PLIF w per neuron
    d, c = 64, 10
    conv_bn = lambda i, o: i * o + 2 * o  # noqa: E731
    lin_bn = lambda i, o: i * o + o + 2 * o  # noqa: E731
    resfb = conv_bn(d, d // 2) + conv_bn(d // 2, d)
    want = (conv_bn(6, d) + resfb + conv_bn(3, d) + resfb + conv_bn(d, 2 * d) + conv_bn(2 * d, 2 * d)
            + conv_bn(2 * d, 4 * d) + conv_bn(4 * d, 4 * d) + conv_bn(4 * d, 8 * d)
            + lin_bn(8 * d, 8 * d) + lin_bn(8 * d, 10 * c))
    n_neurons = 13   # SpikingPointwise blocks (1+2 local, 1+2 centroid, 2+2 global, 1 final, 2 classifier)
    assert _n_params(eventar.create_model("spikepoint_dvsgesture")) == want + n_neurons
    assert want == 581_100


def _cfg(**kw):
    return replace(SpikePointConfig(), **{**dict(n_points=6, n_groups=2, k=3), **kw})


HAND_CLOUD = torch.tensor([[[0.10, 0.10, 0.10], [0.10, 0.10, 0.30], [0.12, 0.10, 0.10],
                            [0.90, 0.90, 0.90], [0.70, 0.90, 0.90], [0.90, 0.88, 0.90]]], dtype=torch.float64)
# FPS from point 0 picks 0 then 3 (farthest); 3-NN of p0: p0, p2, p1; of p3: p3, p5, p4
OFFSETS = [[(0, 0, 0), (0.02, 0, 0), (0, 0, 0.2)], [(0, 0, 0), (0, -0.02, 0), (-0.2, 0, 0)]]
MINS = [(0.10, 0.10, 0.10), (0.70, 0.88, 0.90)]


def test_grouping_features_on_hand_made_cloud():
    x1, x2 = group_features(HAND_CLOUD, _cfg())
    assert x1.shape == (1, 2, 3, 6) and x2.shape == (1, 2, 3)
    sd = statistics.stdev([v for g in OFFSETS for o in g for v in o])    # unbiased, whole sample
    for g in range(2):
        for j in range(3):
            want = [min(1.0, abs(v) / (sd + 1e-5)) for v in OFFSETS[g][j]] + list(MINS[g])
            assert x1[0, g, j].tolist() == pytest.approx(want, abs=1e-9)
    assert x2[0].flatten().tolist() == pytest.approx([0.10, 0.10, 0.10, 0.90, 0.90, 0.90])
    # a small offset stays below 1, a large one saturates (clipped: probability 1 of spiking)
    assert 0 < x1[0, 0, 1, 0].item() < 1 and x1[0, 0, 2, 2].item() == 1.0


def test_grouping_sd_per_group_and_mean_compensation():
    x1, x2 = group_features(HAND_CLOUD, _cfg(sd_scope="group", compensation="mean"))
    assert x1.shape == (1, 2, 3, 3)
    for g in range(2):
        sd = statistics.stdev([v for o in OFFSETS[g] for v in o])
        assert x1[0, g, 1].tolist() == pytest.approx([min(1.0, abs(v) / (sd + 1e-5)) for v in OFFSETS[g][1]])
        centre = HAND_CLOUD[0, 0 if g == 0 else 3].tolist()
        assert x2[0, g].tolist() == pytest.approx([min(1, max(0, c - math.sqrt(2 / math.pi) * sd)) for c in centre])


def test_rate_code_statistics_and_extremes():
    v = torch.tensor([0.0, 0.25, 0.5, 1.0])
    s = rate_code(v, 4000, torch.Generator().manual_seed(0))
    assert s.shape == (4000, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    assert s[:, 0].sum() == 0 and s[:, 3].sum() == 4000
    assert s.mean(0)[1:3].tolist() == pytest.approx([0.25, 0.5], abs=0.03)
    a = rate_code(v, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a, rate_code(v, 8, torch.Generator().manual_seed(3)))


def test_residual_adds_spikes_after_the_neuron():
    cfg = SpikePointConfig()
    block = ResF(4, cfg)
    x = (torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float().requires_grad_()
    with torch.no_grad():
        block.body.fc.weight.zero_()        # body input 0 -> BN 0 -> no spike: output is x itself
    out = block(x)
    assert torch.equal(out, x)              # a pre-neuron residual LIF(I + x) would not return x
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))   # identity shortcut: gradient exactly 1
    with torch.no_grad():
        block.body.bn.bias.fill_(5.0)       # body fires everywhere: spikes add up to 2
    out = block(x.detach())
    assert torch.equal(out, x.detach() + 1) and out.max().item() == 2.0


def test_spikepoint_loss_golden():
    out = torch.tensor([[[0.5, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 0.5]]])   # (T=2, B=2, C=2)
    y = torch.tensor([0, 1])
    # squared errors: t0 b0 (.25, 0), b1 (1, 0); t1 b0 (0, 0), b1 (0, .25) -> 1.5 / 8
    assert spikepoint_loss(out, y).item() == pytest.approx(1.5 / 8)
    with pytest.raises(EventarError):
        spikepoint_loss(torch.zeros(2), y)


def test_sequence_output_and_eval_determinism():
    model = eventar.create_model("spikepoint_synthetic", num_classes=3, output="sequence", n_points=64,
                                 n_groups=16, k=8, timesteps=3)
    x = model.example_input(2)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == (3, 2, 3) and torch.equal(a, b)
    assert ((a >= 0) & (a <= 1)).all()
    model.train()
    s1, _ = model.encode(x)
    s2, _ = model.encode(x)
    assert s1.shape == (3, 2, 16, 8, 6) and not torch.equal(s1, s2)   # training draws fresh spikes


def test_every_config_choice_is_documented():
    # each SpikePointConfig field carries a comment saying whether the paper fixes it or it is open
    src = inspect.getsource(SpikePointConfig)
    for f in fields(SpikePointConfig):
        if f.name == "num_classes":
            continue
        line = next(ln for ln in src.splitlines() if re.match(rf"\s+{f.name}:", ln))
        assert re.search(r"#\s*(paper|open|ours)", line), f"undocumented config field {f.name}"


def test_bad_inputs_and_configs():
    model = eventar.create_model("spikepoint_synthetic")
    with pytest.raises(EventarError, match=r"\(B, N, 3\)"):
        model(torch.rand(2, 256, 4))
    with pytest.raises(EventarError, match="n_groups"):
        model(torch.rand(2, 10, 3))
    with pytest.raises(ConfigError, match="does not take"):
        eventar.create_model("spikepoint_dvsgesture", n_neighbours=3)
    with pytest.raises(ConfigError, match="sd_scope"):
        eventar.create_model("spikepoint_dvsgesture", sd_scope="axis")
    with pytest.raises(ConfigError, match="n_groups"):
        eventar.create_model("spikepoint_dvsgesture", n_groups=2048)
    with pytest.raises(ConfigError, match="local_dim"):
        eventar.create_model("spikepoint_dvsgesture", local_dim=33)


@pytest.fixture
def one_torch_thread():
    """Tiny models: one torch thread avoids OpenMP hand-offs that dominate on a busy 2-core box."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def test_learns_a_separable_toy_task(one_torch_thread):
    # class 0: events on the left half, class 1: on the right half; a few Adam steps must separate
    # them (gradients reach every layer through the surrogate, the residuals and the voting)
    torch.manual_seed(0)
    model = eventar.create_model("spikepoint_synthetic", num_classes=2, n_points=32, n_groups=8, k=4,
                                 timesteps=2, local_dim=8)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(16, 32, 3, generator=gen)
    y = torch.arange(16) % 2
    x[:, :, 0] = x[:, :, 0] * 0.4 + 0.6 * y[:, None].float()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x) * 10, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
    with torch.no_grad():   # training-mode BatchNorm (batch statistics): running stats lag after 15 steps
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.9
