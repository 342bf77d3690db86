"""SpikeSLA: 2-D RoPE and linear attention against direct computations, the LIF time axis, blocks."""

from __future__ import annotations

import math

import pytest
import torch

from eventar.errors import ConfigError, EventarError
from eventar.nn import LIF
from eventar.nn.attention import (SpikeSLABlock, SpikingLinearAttention, linear_attention,
                                  lif_over_frames, rope_2d)


def rope_direct(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate each position's vector by an explicit block-diagonal rotation matrix."""
    h, w, c = x.shape
    k = c // 4
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            R = torch.zeros(c, c, dtype=x.dtype)
            for p in range(c // 2):
                pos, q = (i, p) if p < k else (j, p - k)
                a = pos * base ** (-q / k)
                R[2 * p, 2 * p], R[2 * p, 2 * p + 1] = math.cos(a), -math.sin(a)
                R[2 * p + 1, 2 * p], R[2 * p + 1, 2 * p + 1] = math.sin(a), math.cos(a)
            out[i, j] = R @ x[i, j]
    return out


def test_rope_matches_explicit_rotation_matrices():
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    assert torch.allclose(rope_2d(x), rope_direct(x), atol=1e-12)
    x32 = torch.randn(2, 5, 3, 12)  # leading batch axes
    got = rope_2d(x32)
    assert got.dtype == torch.float32
    assert torch.allclose(got[1], rope_direct(x32[1].double()).float(), atol=1e-5)


def test_rope_preserves_norms_and_depends_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    grid_q = torch.zeros(6, 6, 8, dtype=torch.float64)
    grid_k = torch.zeros(6, 6, 8, dtype=torch.float64)
    grid_q[:] = q
    grid_k[:] = k
    rq, rk = rope_2d(grid_q), rope_2d(grid_k)
    assert torch.allclose(rq.norm(dim=-1), q.norm().expand(6, 6))
    d1 = rq[1, 2] @ rk[3, 1]
    d2 = rq[3, 4] @ rk[5, 3]  # both shifted by (+2, +2)
    d3 = rq[1, 2] @ rk[3, 2]  # a different offset
    assert d1.item() == pytest.approx(d2.item(), abs=1e-10)
    assert abs(d1.item() - d3.item()) > 1e-6
    assert torch.equal(rope_2d(grid_q)[0, 0], q)  # position (0, 0) is not rotated
    with pytest.raises(EventarError, match="multiple of 4"):
        rope_2d(torch.zeros(2, 2, 6))


def test_linear_attention_matches_quadratic_form():
    g = torch.Generator().manual_seed(1)
    n, heads, L, d, e = 2, 3, 10, 4, 5
    q = torch.rand(n, heads, L, d, generator=g, dtype=torch.float64) + 1
    k = torch.rand(n, heads, L, d, generator=g, dtype=torch.float64) + 1
    v = torch.randn(n, heads, L, e, generator=g, dtype=torch.float64)
    qr, kr = torch.randn_like(q), torch.randn_like(k)
    attn = (qr @ kr.transpose(-1, -2)) / L  # (n, h, L, L)
    z = 1.0 / ((q @ k.mean(-2, keepdim=True).transpose(-1, -2)) + 1e-6)
    direct = (attn @ v) * z
    assert torch.allclose(linear_attention(q, k, v, qr, kr), direct, atol=1e-12)
    # without rotation, and rows of a uniform attention average v
    plain = (q @ k.transpose(-1, -2)) / L @ v * z
    assert torch.allclose(linear_attention(q, k, v), plain, atol=1e-12)
    ones = torch.ones(1, 1, L, d, dtype=torch.float64)
    avg = linear_attention(ones, ones, v[:1, :1], eps=0.0)
    assert torch.allclose(avg, v[:1, :1].mean(-2, keepdim=True).expand_as(avg))


def test_lif_over_frames_runs_per_sample_or_over_batch_times_frames():
    lif = LIF(tau=2.0, surrogate="sigmoid", alpha=4.0, detach_reset=True)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3 * 4, 5, 7, generator=g) * 2.2  # B=3, T=4
    per_sample = lif_over_frames(lif, x, 4, "frames")
    for b in range(3):
        assert torch.equal(per_sample[b * 4:(b + 1) * 4], lif(x[b * 4:(b + 1) * 4]))
    whole = lif_over_frames(lif, x, 4, "batch_x_frames")
    assert torch.equal(whole, lif(x))
    assert not torch.equal(whole, per_sample)  # membranes leak across samples in the official mode
    with pytest.raises(EventarError, match="multiple of frames"):
        lif_over_frames(lif, x[:5], 4)
    with pytest.raises(ConfigError, match="lif_time"):
        lif_over_frames(lif, x, 4, "batch")


def test_spiking_attention_q_k_are_spikes():
    att = SpikingLinearAttention(16, 4, (3, 3))
    seen = []
    att.qk_lif.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    x = torch.randn(2 * 4, 9, 16)
    y = att(x, frames=4)
    assert y.shape == x.shape
    s = seen[0]
    assert set(s.unique().tolist()) <= {0.0, 1.0} and s.sum() > 0
    with pytest.raises(EventarError, match="expected"):
        att(torch.randn(8, 10, 16), frames=4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_sla_block_shapes_gradients(bidirectional):
    torch.manual_seed(0)
    blk = SpikeSLABlock(16, 4, (4, 4), bidirectional=bidirectional, drop_path=0.1)
    x = torch.randn(3 * 2, 16, 16, requires_grad=True)
    y = blk(x, frames=2)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in blk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("bidirectional", [False, True])
def test_sla_block_each_sample_independent_of_its_batch(bidirectional):
    torch.manual_seed(1)
    blk = SpikeSLABlock(16, 4, (4, 4), bidirectional=bidirectional).eval()
    x = torch.randn(3 * 2, 16, 16) * 3
    with torch.no_grad():
        together = blk(x, frames=2)
        alone = blk(x[2:4], frames=2)
    assert torch.allclose(together[2:4], alone, atol=1e-5)


def test_sla_official_quirk_options_change_the_function():
    torch.manual_seed(2)
    base = SpikeSLABlock(16, 4, (2, 2), bidirectional=True).eval()
    x = torch.randn(4, 4, 16) * 2
    with torch.no_grad():
        y0 = base(x, frames=2)
        base.act_proj_twice = True
        y1 = base(x, frames=2)
        base.act_proj_twice, base.official_cpe2 = False, True
        y2 = base(x, frames=2)
    assert not torch.allclose(y0, y1) and not torch.allclose(y0, y2)
