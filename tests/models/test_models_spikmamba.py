"""SpikMamba: variants and parameter counts, forward/backward at batch sizes 1 and 3, per-sample
LIF time axis (no batch size baked in) versus the official batch × frames option, input errors."""

from __future__ import annotations

import pytest
import torch

import eventar
from eventar.errors import ConfigError, EventarError
from eventar.models.spikmamba import SpikMamba, count_parameters, example_input

GRID = [f"spikmamba_t{t}_p{p}_m{m}" for t in (8, 16) for p in (8, 4) for m in (1, 4)]


def test_variants_registered():
    assert set(GRID) | {"spikmamba_synthetic"} <= set(eventar.list_models("spikmamba*"))


def test_parameter_counts():
    counts = {name: count_parameters(eventar.create_model(name)) for name in GRID}
    for name, n in counts.items():
        print(f"{name}: {n / 1e6:.3f} M parameters (300 classes)")
    # research estimate for the official bimamba 8-frame model: ~4.1 M used in forward
    assert counts["spikmamba_t8_p8_m4"] == 4_120_364
    # T only changes the temporal position embedding (8 more rows of 256)
    assert counts["spikmamba_t16_p8_m4"] - counts["spikmamba_t8_p8_m4"] == 8 * 256
    # three more bidirectional Mamba blocks: (in 256->1024, out 512->256, 2 x (conv 512x5,
    # x_proj 512x48, dt_proj 16x512+512, A 512x16, D 512), RMSNorm 256) each
    per_block = 256 * 1024 + 512 * 256 + 2 * (512 * 5 + 512 * 48 + 16 * 512 + 512 + 512 * 16 + 512) + 256
    assert counts["spikmamba_t8_p8_m4"] - counts["spikmamba_t8_p8_m1"] == 3 * per_block
    assert count_parameters(eventar.create_model("spikmamba_t8_p8_m4", num_classes=11)) == 4_120_364 - 289 * 257


@pytest.mark.parametrize("batch", [1, 3])
def test_synthetic_forward_backward(batch):
    torch.manual_seed(0)
    model = eventar.create_model("spikmamba_synthetic").train()
    x = example_input(model, batch)
    assert x.shape == (batch, 8, 2, 32, 32)
    y = model(x)
    assert y.shape == (batch, 11) and torch.isfinite(y).all()
    torch.nn.functional.cross_entropy(y, torch.arange(batch) % 11).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_each_sample_is_independent_of_its_batch():
    torch.manual_seed(1)
    model = eventar.create_model("spikmamba_synthetic").eval()
    x = example_input(model, 3) * 2
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-4)


def test_official_batch_x_frames_option_couples_samples():
    torch.manual_seed(1)
    model = eventar.create_model("spikmamba_synthetic", lif_time="batch_x_frames").eval()
    x = example_input(model, 3) * 2
    with torch.no_grad():
        together = model(x)
        alone = model(x[2:3])
    assert not torch.allclose(together[2:3], alone, atol=1e-4)


def test_sla_only_ablation_and_unidirectional_options():
    model = eventar.create_model("spikmamba_synthetic", mamba_depth=0, sla_bidirectional=False,
                                 mamba_bidirectional=False)
    assert model.mamba is None
    y = model(example_input(model, 2))
    assert y.shape == (2, 11) and torch.isfinite(y).all()


def test_bad_inputs_and_configs():
    model = eventar.create_model("spikmamba_synthetic")
    with pytest.raises(EventarError, match=r"expected \(B, 8, 2, 32, 32\)"):
        model(torch.zeros(2, 8, 2, 64, 64))
    with pytest.raises(EventarError, match="frames"):
        model(torch.zeros(2, 2, 32, 32))
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        SpikMamba(img_size=30, patch_size=4)
    with pytest.raises(ConfigError, match="lif_time"):
        SpikMamba(lif_time="batch")


@pytest.mark.slow
def test_full_size_reference_variant_forward():
    model = eventar.create_model("spikmamba_t8_p8_m4", num_classes=11).eval()
    with torch.no_grad():
        y = model(example_input(model, 1))
    assert y.shape == (1, 11) and torch.isfinite(y).all()
