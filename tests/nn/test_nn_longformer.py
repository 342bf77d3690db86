"""Sliding-window attention equals dense attention with a band mask; CLS attends globally."""

import pytest
import torch

from eventar.nn.longformer import LongformerEncoder, LongformerSelfAttention, band_mask, banded_attention_ref, sliding_window_attention


@pytest.mark.parametrize("length,radius", [(1, 0), (5, 1), (17, 9), (17, 2), (40, 4)])
@pytest.mark.parametrize("n_global", [0, 1, 2])
def test_sliding_window_equals_banded_dense(length, radius, n_global):
    torch.manual_seed(length * 10 + radius)
    q, k, v = (torch.randn(2, 3, length, 4, dtype=torch.float64) for _ in range(3))
    g = torch.zeros(length, dtype=torch.bool)
    g[: min(n_global, length)] = True
    out = sliding_window_attention(q, k, v, radius, g)
    ref = banded_attention_ref(q, k, v, radius, g)
    local = ~g
    assert torch.allclose(out[:, :, local], ref[:, :, local], atol=1e-12)
    assert torch.all(out[:, :, g] == 0)


def test_band_mask_shape_and_globals():
    g = torch.tensor([True, False, False, False, False])
    m = band_mask(5, 1, g)
    assert m[0].all() and m[:, 0].all()
    assert m[2].tolist() == [True, True, True, True, False]


def test_cls_attends_globally_and_local_tokens_do_not():
    torch.manual_seed(0)
    attn = LongformerSelfAttention(dim=8, heads=2, window=2, dropout=0.0).eval()
    x = torch.randn(1, 10, 8)
    g = torch.zeros(10, dtype=torch.bool)
    g[0] = True
    base = attn(x, g)
    x2 = x.clone()
    x2[0, 9] += 5.0  # perturb the last frame
    out = attn(x2, g)
    assert not torch.allclose(out[0, 0], base[0, 0])  # CLS sees frame 9
    assert torch.allclose(out[0, 1:8], base[0, 1:8])  # frames 1..7 are beyond ±1 of frame 9
    assert not torch.allclose(out[0, 8], base[0, 8])  # frame 8 is its neighbour


def test_encoder_shapes_and_gradients():
    enc = LongformerEncoder(dim=16, depth=2, heads=4, window=4, mlp_dim=32, max_positions=20)
    x = torch.randn(3, 7, 16, requires_grad=True)
    y = enc(x)
    assert y.shape == (3, 8, 16)
    y[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="learned positions"):
        enc(torch.randn(1, 20, 16))


def test_odd_window_rejected():
    with pytest.raises(ValueError, match="even"):
        LongformerSelfAttention(8, 2, 3)
