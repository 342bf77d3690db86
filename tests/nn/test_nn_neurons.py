"""Functional neurons: hand-computed membrane trajectories and surrogate gradients, backend parity."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eventar.errors import ConfigError, EventarError
from eventar.nn.neurons import if_multistep, init_w, lif_multistep, plif_multistep
from eventar.nn.surrogate import spike, surrogate_grad

BACKENDS = ["numba", "torch", "spikingjelly"]


def _const(value, steps):
    return torch.full((steps, 1), float(value))


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_hard_reset_golden(backend):
    # tau=2, decay_input: H = V + (1.5 - V)/2 -> 0.75, 1.125 (fire, V=0), 0.75, 1.125 (fire)
    s = lif_multistep(_const(1.5, 4), tau=2.0, backend=backend)
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_soft_reset_golden(backend):
    # 0.75; 1.125 fire -> V=0.125; 0.8125; 1.15625 fire -> V=0.15625; 0.828125
    s = lif_multistep(_const(1.5, 5), tau=2.0, v_reset=None, backend=backend)
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    # with a lower input the soft-reset residue makes it fire one step earlier than hard reset
    x = torch.tensor([[1.25], [1.25], [1.25], [1.25], [1.25], [1.25]])
    hard = lif_multistep(x, tau=2.0, backend=backend).flatten().tolist()
    soft = lif_multistep(x, tau=2.0, v_reset=None, backend=backend).flatten().tolist()
    # hard: .625, .9375, 1.09375 F, .625, .9375, 1.09375 F
    assert hard == [0, 0, 1, 0, 0, 1]
    # soft: .625, .9375, 1.09375 F->.09375, .671875, .9609375, 1.10546875 F
    assert soft == [0, 0, 1, 0, 0, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_no_decay_input_golden(backend):
    # decay_input=False: H = V - V/2 + 0.625 -> 0.625, 0.9375, 1.09375 (fire), 0.625
    s = lif_multistep(_const(0.625, 4), tau=2.0, decay_input=False, backend=backend)
    assert s.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_if_golden_threshold_is_inclusive(backend):
    # IF: H = V + 0.5 -> 0.5, 1.0 (>= threshold fires), 0.5, 1.0
    s = if_multistep(_const(0.5, 4), backend=backend)
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    # soft reset with threshold 1: 0.75, 1.5 F->0.5, 1.25 F->0.25, 1.0 F->0
    s = if_multistep(_const(0.75, 4), v_reset=None, backend=backend)
    assert s.flatten().tolist() == [0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_plif_initial_tau_equals_lif(backend):
    x = torch.randn(7, 3, 5, generator=torch.Generator().manual_seed(3)) * 2
    w = torch.tensor(init_w(3.0))
    assert torch.sigmoid(w).item() == pytest.approx(1 / 3.0)
    a = plif_multistep(x, w, backend=backend)
    b = lif_multistep(x, tau=3.0, backend=backend)
    # q = sigmoid(w) multiplies, LIF divides: allow ulp-level flips only (none expected here)
    assert (a != b).sum().item() == 0


@pytest.mark.parametrize("name,alpha", [("atan", 2.0), ("sigmoid", 4.0), ("piecewise_quadratic", 1.0)])
def test_surrogate_formulas(name, alpha):
    x = torch.tensor([-0.7, -0.2, 0.0, 0.3, 1.1], dtype=torch.float64)
    g = surrogate_grad(x, name, alpha)
    for xi, gi in zip(x.tolist(), g.tolist()):
        if name == "atan":
            want = alpha / 2 / (1 + (math.pi / 2 * alpha * xi) ** 2)
        elif name == "sigmoid":
            sg = 1 / (1 + math.exp(-alpha * xi))
            want = alpha * sg * (1 - sg)
        else:
            want = max(0.0, alpha - alpha * alpha * abs(xi))
        assert gi == pytest.approx(want, rel=1e-6, abs=1e-7)
    xr = x.clone().requires_grad_()
    out = spike(xr, name, alpha)
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    out.sum().backward()
    torch.testing.assert_close(xr.grad, g)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_gradient_by_hand(backend):
    # T=1, tau=2: H = x/2, dS/dx = g'(x/2 - 1) / 2 with ATan(alpha=2): g'(u) = 1 / (1 + (pi u)^2)
    x = torch.tensor([[1.0], [0.0]]).T.contiguous().requires_grad_()   # shape (1, 2)
    lif_multistep(x, tau=2.0, backend=backend).sum().backward()
    want = [0.5 / (1 + (math.pi * (xi / 2 - 1)) ** 2) for xi in (1.0, 0.0)]
    assert x.grad.flatten().tolist() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("detach_reset", [False, True])
def test_two_step_gradient_through_reset_by_hand(backend, detach_reset):
    # x0 = 1.0 (H0 = 0.5, no spike), x1 = 1.2 (H1 = 0.25 + 0.6 = 0.85): gradient of S1 w.r.t. x0
    # hard reset V0 = S0*0 + (1-S0)*H0  ->  dV0/dH0 = (1 - S0) + (0 - H0) * g'(H0 - 1)
    x = torch.tensor([[1.0], [1.2]], requires_grad=True)
    s = lif_multistep(x, tau=2.0, detach_reset=detach_reset, backend=backend)
    s[1].sum().backward()

    def gp(u):
        return 1 / (1 + (math.pi * u) ** 2)

    h0, h1 = 0.5, 0.85
    dv0 = 1.0 if detach_reset else 1.0 - h0 * gp(h0 - 1)
    want_x0 = gp(h1 - 1) * 0.5 * dv0 * 0.5   # dS1/dH1 * dH1/dV0 * dV0/dH0 * dH0/dx0
    want_x1 = gp(h1 - 1) * 0.5
    assert x.grad.flatten().tolist() == pytest.approx([want_x0, want_x1], rel=1e-5)


@pytest.mark.parametrize("kind", ["lif", "lif_soft", "lif_nodecay", "if", "plif", "plif_soft"])
def test_numba_matches_torch_reference_float64(kind):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(9, 4, 33, generator=gen, dtype=torch.float64) * 1.5
    g = torch.randn(9, 4, 33, generator=gen, dtype=torch.float64)
    out = {}
    for backend in ("numba", "torch"):
        xr = x.clone().requires_grad_()
        w = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        if kind.startswith("plif"):
            s = plif_multistep(xr, w, v_reset=None if kind.endswith("soft") else 0.0, backend=backend)
        elif kind == "if":
            s = if_multistep(xr, backend=backend)
        else:
            s = lif_multistep(xr, tau=2.5, v_reset=None if kind == "lif_soft" else 0.0,
                              decay_input=kind != "lif_nodecay", surrogate="sigmoid", alpha=4.0, backend=backend)
        (s * g).sum().backward()
        out[backend] = (s.detach(), xr.grad, w.grad)
    assert torch.equal(out["numba"][0], out["torch"][0])
    assert out["numba"][0].dtype == torch.float64
    torch.testing.assert_close(out["numba"][1], out["torch"][1], rtol=1e-12, atol=1e-12)
    if kind.startswith("plif"):
        torch.testing.assert_close(out["numba"][2], out["torch"][2], rtol=1e-10, atol=1e-12)


def test_non_contiguous_input_and_no_grad():
    x = torch.randn(6, 5, 8, generator=torch.Generator().manual_seed(2)).transpose(1, 2) * 2
    assert not x.is_contiguous()
    ref = lif_multistep(x.contiguous(), backend="torch")
    with torch.no_grad():
        fast = lif_multistep(x, backend="numba")
    assert fast.shape == (6, 8, 5)
    assert torch.equal(fast, ref.detach())


def test_bad_inputs_raise_eventar_errors():
    with pytest.raises(EventarError, match="time axis first"):
        lif_multistep(torch.ones(5))
    with pytest.raises(EventarError, match="floating-point"):
        lif_multistep(torch.ones(3, 2, dtype=torch.int32))
    with pytest.raises(ConfigError, match="tau"):
        lif_multistep(torch.ones(3, 2), tau=1.0)
    with pytest.raises(ConfigError, match="surrogate"):
        lif_multistep(torch.ones(3, 2), surrogate="relu")
    with pytest.raises(ConfigError, match="alpha"):
        lif_multistep(torch.ones(3, 2), alpha=0.0)
    with pytest.raises(ConfigError, match="v_reset"):
        if_multistep(torch.ones(3, 2), v_reset=1.0)
    with pytest.raises(ConfigError, match="backend"):
        if_multistep(torch.ones(3, 2), backend="cuda")
    with pytest.raises(ConfigError, match="numba"):
        lif_multistep(torch.ones(3, 2, dtype=torch.float16), backend="numba")
    with pytest.raises(EventarError, match="one-element"):
        plif_multistep(torch.ones(3, 2), torch.zeros(2))
    with pytest.raises(ValueError):   # EventarError is a ValueError
        lif_multistep(torch.ones(3, 2), tau=0.5)


def test_half_precision_falls_back_to_torch_loop():
    x = (torch.randn(5, 16, generator=torch.Generator().manual_seed(0)) * 2).to(torch.bfloat16)
    s = lif_multistep(x)
    assert s.dtype == torch.bfloat16
    assert torch.equal(s, lif_multistep(x, backend="torch"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 24), min_size=1, max_size=20), st.sampled_from([1.0, 1.5, 2.0]))
def test_soft_reset_if_counts_threshold_crossings_of_the_running_sum(eighths, v_th):
    # IF with soft reset is a sigma-delta counter: after step t it has fired floor(sum(x[:t+1]) / V_th)
    # times for non-negative input.  Multiples of 1/8 keep float32 arithmetic exact.
    x = torch.tensor(eighths, dtype=torch.float32).reshape(-1, 1) / 8
    s = if_multistep(x, v_threshold=v_th, v_reset=None).flatten()
    want = torch.floor(torch.cumsum(x.flatten().double(), 0) / v_th)
    # several crossings in one step still emit one spike: compare only while the count keeps up
    count = torch.cumsum(s.double(), 0)
    assert (count <= want).all()
    if (x <= v_th).all():
        assert torch.equal(count, want)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["atan", "sigmoid", "piecewise_quadratic"]),
       st.booleans(), st.booleans(), st.booleans(), st.floats(1.2, 5.0))
def test_numba_equals_torch_reference_random_configs(seed, sg, soft, detach, decay_input, tau):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 3, 7, generator=gen, dtype=torch.float64) * 2
    g = torch.randn(5, 3, 7, generator=gen, dtype=torch.float64)
    out = []
    for backend in ("numba", "torch"):
        xr = x.clone().requires_grad_()
        s = lif_multistep(xr, tau=tau, v_reset=None if soft else 0.0, surrogate=sg, detach_reset=detach,
                          decay_input=decay_input, backend=backend)
        (s * g).sum().backward()
        out.append((s.detach(), xr.grad))
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1], rtol=1e-10, atol=1e-12)
