"""Mamba mixer, bidirectional variant, RMSNorm / DropPath and the residual stack."""

from __future__ import annotations

import pytest
import torch

from eventar.errors import EventarError
from eventar.nn.mamba import (DropPath, Mamba, MambaBlock, MambaStack, RMSNorm, causal_conv1d,
                              official_drop_path_rates)


def test_causal_conv1d_matches_direct_sum_and_is_causal():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 10, generator=g)
    w = torch.randn(3, 4, generator=g)
    b = torch.randn(3, generator=g)
    y = causal_conv1d(x, w, b, silu=False)
    direct = torch.zeros_like(y)
    for t in range(10):
        for k in range(4):
            src = t - 3 + k
            if src >= 0:
                direct[:, :, t] += w[:, k] * x[:, :, src]
    direct += b[:, None]
    assert torch.allclose(y, direct, atol=1e-6)
    assert torch.allclose(causal_conv1d(x, w[:, None, :], b), torch.nn.functional.silu(direct), atol=1e-6)
    with pytest.raises(EventarError, match="expected"):
        causal_conv1d(x, torch.randn(5, 4))


def _mamba(bidirectional, seed=0, **kw):
    torch.manual_seed(seed)
    return Mamba(16, d_state=4, d_conv=3, expand=2, bidirectional=bidirectional, **kw)


def test_unidirectional_mamba_is_causal():
    m = _mamba(False)
    x = torch.randn(2, 12, 16)
    x2 = x.clone()
    x2[:, 7:] += torch.randn(2, 5, 16)
    with torch.no_grad():
        y, y2 = m(x), m(x2)
    assert torch.allclose(y[:, :7], y2[:, :7], atol=1e-6)
    assert not torch.allclose(y[:, 7:], y2[:, 7:], atol=1e-3)


def test_bidirectional_mamba_sees_the_future_and_sums_two_directions():
    bi = _mamba(True)
    x = torch.randn(2, 12, 16)
    x2 = x.clone()
    x2[:, 10:] += 1.0
    with torch.no_grad():
        assert not torch.allclose(bi(x)[:, :5], bi(x2)[:, :5], atol=1e-4)
    # rebuild the two directions as unidirectional mixers sharing in_proj; out_proj has no bias,
    # so out_proj(y_f + flip(y_b)) = fwd(x) + flip(bwd(flip(x)))
    fwd, bwd = _mamba(False, seed=1), _mamba(False, seed=2)
    sd = bi.state_dict()
    fwd.load_state_dict({k: v for k, v in sd.items() if not k.endswith("_b") and "_b." not in k and "_b_" not in k})
    bwd_sd = {k.replace("conv1d_b", "conv1d").replace("x_proj_b", "x_proj").replace("dt_proj_b", "dt_proj")
              .replace("A_b_log", "A_log").replace("D_b", "D"): v
              for k, v in sd.items() if k.startswith(("conv1d_b", "x_proj_b", "dt_proj_b", "A_b_log", "D_b"))
              or k.startswith(("in_proj", "out_proj"))}
    bwd.load_state_dict(bwd_sd)
    with torch.no_grad():
        expect = fwd(x) + bwd(x.flip(1)).flip(1)
        assert torch.allclose(bi(x), expect, atol=1e-5)


def test_unidirectional_parameter_names_match_mamba_ssm():
    names = set(_mamba(False).state_dict())
    assert names == {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                     "dt_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight"}
    bi = set(_mamba(True).state_dict())
    assert bi - names == {"conv1d_b.weight", "conv1d_b.bias", "x_proj_b.weight", "dt_proj_b.weight",
                          "dt_proj_b.bias", "A_b_log", "D_b"}


def test_initialisation_follows_mamba():
    m = _mamba(True)
    a = -torch.exp(m.A_b_log)
    assert torch.equal(a[0], -torch.arange(1, 5, dtype=torch.float32))
    dt = torch.nn.functional.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-4 - 1e-7 and dt.max() <= 0.1 + 1e-6
    assert torch.equal(m.D_b, torch.ones(32))


def test_bidirectional_block_gradients_reach_every_parameter():
    blk = MambaBlock(16, drop_path=0.0, d_state=4, d_conv=3, bidirectional=True)
    x = torch.randn(3, 9, 16, requires_grad=True)
    h, r = blk(x)
    assert h.shape == (3, 9, 16) and r.shape == (3, 9, 16) and r.dtype == torch.float32
    (h.sum() + r.sum()).backward()
    for name, p in blk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_reference_and_cpu_scan_backends_agree_in_the_mixer():
    m = _mamba(True)
    x = torch.randn(2, 11, 16, requires_grad=True)
    outs = []
    for backend in ("ref", "cpu"):
        m.scan_backend = backend
        x.grad = None
        m.zero_grad()
        y = m(x)
        (y ** 2).sum().backward()
        outs.append((y.detach(), x.grad.clone(), m.A_b_log.grad.clone(), m.x_proj.weight.grad.clone()))
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_rmsnorm_golden():
    n = RMSNorm(4, eps=0.0)
    x = torch.tensor([[1.0, -1.0, 1.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(n(x), torch.tensor([[1.0, -1.0, 1.0, -1.0], [2.0, 0.0, 0.0, 0.0]]))
    with torch.no_grad():
        n.weight.mul_(3)
    assert torch.allclose(n(x)[1], torch.tensor([6.0, 0.0, 0.0, 0.0]))


def test_drop_path_drops_whole_samples_and_rescales():
    dp = DropPath(0.5)
    x = torch.ones(200, 3, 4)
    torch.manual_seed(0)
    y = dp(x)
    per_sample = y.reshape(200, -1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample.min(1).values == per_sample.max(1).values).all()
    assert 60 < (per_sample[:, 0] == 0).sum() < 140
    dp.eval()
    assert torch.equal(dp(x), x)
    with pytest.raises(EventarError):
        DropPath(1.0)


def test_stack_shapes_schedule_and_eval_determinism():
    assert official_drop_path_rates(4, 0.1) == pytest.approx([0.0, 0.0, 0.1 / 11, 0.2 / 11])
    st = MambaStack(16, 2, d_state=4, bidirectional=True)
    assert [l.drop_path.p for l in st.layers] == [0.0, 0.0]
    x = torch.randn(2, 10, 16)
    st.eval()
    y = st(x)
    assert y.shape == x.shape and torch.equal(y, st(x))
    with pytest.raises(EventarError):
        MambaStack(16, 2, drop_path_rates=[0.1])
    with pytest.raises(EventarError, match="expected"):
        st(torch.randn(2, 10, 8))


@pytest.mark.gpu
def test_gpu_matches_stock_mamba_ssm_layer():
    mamba_ssm = pytest.importorskip("mamba_ssm")
    torch.manual_seed(0)
    ours = Mamba(64, d_state=16, d_conv=4, expand=2).cuda()
    stock = mamba_ssm.Mamba(d_model=64, d_state=16, d_conv=4, expand=2).cuda()
    stock.load_state_dict(ours.state_dict())
    x = torch.randn(2, 128, 64, device="cuda")
    ref = Mamba(64, d_state=16, d_conv=4, expand=2, scan_backend="ref").cuda()
    ref.load_state_dict(ours.state_dict())
    with torch.no_grad():
        a, b, c = stock(x), ours(x), ref(x)
    print(f"stock vs eventar: {(a - b).abs().max().item():.3e}; eventar fused vs ref: {(b - c).abs().max().item():.3e}")
    assert torch.allclose(a, b, atol=1e-3) and torch.allclose(b, c, atol=1e-3)


@pytest.mark.gpu
def test_gpu_bidirectional_block_fused_matches_reference_with_gradients():
    """eventar's bidirectional mixer on CUDA: mamba-ssm's fused scan (and causal-conv1d when
    installed) against the reference scan, outputs and every parameter gradient."""
    pytest.importorskip("mamba_ssm")
    torch.manual_seed(1)
    fused = Mamba(64, d_state=16, d_conv=4, expand=2, bidirectional=True).cuda()
    ref = Mamba(64, d_state=16, d_conv=4, expand=2, bidirectional=True, scan_backend="ref").cuda()
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(2, 96, 64, device="cuda")
    a, b = fused(x), ref(x)
    g = torch.randn_like(a)
    a.backward(g)
    b.backward(g)
    out_diff = (a - b).abs().max().item()
    grad_diff = {n: (p.grad - q.grad).abs().max().item() / max(1.0, q.grad.abs().max().item())
                 for (n, p), (_, q) in zip(fused.named_parameters(), ref.named_parameters())}
    print(f"bidirectional fused vs ref: out {out_diff:.3e}, worst grad {max(grad_diff.values()):.3e}")
    assert out_diff < 1e-3
    assert max(grad_diff.values()) < 5e-3, grad_diff
