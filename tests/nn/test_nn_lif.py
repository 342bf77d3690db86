"""Neuron modules: parity with SpikingJelly 2.0 nodes (spikes exact, gradients to 1e-6), no state
carried between forwards, learnable PLIF time constant."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional as sjf
from spikingjelly.activation_based import neuron as sjn

from eventar.errors import ConfigError
from eventar.nn import IF, LIF, ParametricLIF, reset_states
from eventar.nn.surrogate import to_spikingjelly

CONFIGS = [
    dict(),
    dict(v_reset=None),
    dict(tau=3.0, decay_input=False),
    dict(surrogate="sigmoid", alpha=4.0, detach_reset=True),
    dict(tau=1.5, v_threshold=0.7, v_reset=-0.1, surrogate="piecewise_quadratic", alpha=1.0),
]


def _sj_node(kind, cfg):
    common = dict(v_threshold=cfg.get("v_threshold", 1.0), v_reset=cfg.get("v_reset", 0.0),
                  surrogate_function=to_spikingjelly(cfg.get("surrogate", "atan"), cfg.get("alpha", 2.0)),
                  detach_reset=cfg.get("detach_reset", False), step_mode="m")
    if kind == "lif":
        return sjn.LIFNode(tau=cfg.get("tau", 2.0), decay_input=cfg.get("decay_input", True), **common)
    if kind == "plif":
        return sjn.ParametricLIFNode(init_tau=cfg.get("tau", 2.0), decay_input=cfg.get("decay_input", True),
                                     **common)
    return sjn.IFNode(**common)


def _ours(kind, cfg):
    cfg = dict(cfg)
    if kind == "lif":
        return LIF(backend="numba", **cfg)
    if kind == "plif":
        return ParametricLIF(init_tau=cfg.pop("tau", 2.0), backend="numba", **cfg)
    cfg.pop("tau", None)
    cfg.pop("decay_input", None)
    return IF(backend="numba", **cfg)


@pytest.mark.parametrize("kind", ["lif", "plif", "if"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_fast_cpu_path_matches_spikingjelly(kind, cfg):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(12, 3, 4, 40, generator=gen) * 1.5 + 0.3
    g = torch.randn(x.shape, generator=gen)
    ours, ref = _ours(kind, cfg), _sj_node(kind, cfg)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = ours(xa), ref(xb)
    assert 0.05 < sa.mean().item() < 0.95           # both firing and silent neurons are exercised
    assert torch.equal(sa, sb)                      # spikes exact
    (sa * g).sum().backward()
    (sb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-6)
    if kind == "plif":
        torch.testing.assert_close(ours.w.grad, ref.w.grad, rtol=1e-5, atol=1e-6)
    sjf.reset_net(ref)


@pytest.mark.parametrize("cls", [LIF, ParametricLIF, IF])
def test_no_state_carried_between_forwards(cls):
    gen = torch.Generator().manual_seed(1)
    x1 = torch.rand(8, 2, 30, generator=gen) * 3
    x2 = torch.rand(8, 2, 30, generator=gen) * 3
    fresh = cls()(x2)
    used = cls()
    used(x1)
    assert torch.equal(used(x2), fresh)
    # batch size may change between calls (a stateful node would fail or mix states)
    assert used(x2[:, :1]).shape == (8, 1, 30)


def test_plif_tau_is_learnable():
    m = ParametricLIF(init_tau=2.0)
    assert m.tau == pytest.approx(2.0)
    assert [n for n, _ in m.named_parameters()] == ["w"]
    x = torch.rand(6, 50, generator=torch.Generator().manual_seed(0)) * 3
    m(x).sum().backward()
    assert m.w.grad is not None and m.w.grad.abs().item() > 0
    with torch.no_grad():
        m.w += 1.0
    assert m.tau < 2.0


def test_modules_have_no_parameters_except_plif_and_expose_config():
    lif = LIF(tau=4.0, v_reset=None, surrogate="sigmoid", alpha=4.0)
    assert list(lif.parameters()) == []
    assert "tau=4.0" in repr(lif) and "soft" in repr(lif) and "sigmoid" in repr(lif)
    assert list(IF().parameters()) == []


def test_module_config_errors():
    with pytest.raises(ConfigError):
        LIF(tau=0.9)
    with pytest.raises(ConfigError):
        ParametricLIF(init_tau=1.0)
    with pytest.raises(ConfigError):
        IF(surrogate="tanh")
    with pytest.raises(ConfigError):
        LIF(v_threshold=float("nan"))


def test_auto_backend_equals_torch_reference_on_cpu():
    x = torch.randn(5, 7, 9, generator=torch.Generator().manual_seed(9)) * 2
    assert torch.equal(LIF()(x), LIF(backend="torch")(x))


def test_reset_states_resets_spikingjelly_nodes():
    net = torch.nn.Sequential(sjn.LIFNode(step_mode="m"), torch.nn.Identity())
    net(torch.ones(3, 4) * 0.5)
    assert torch.is_tensor(net[0].v)
    reset_states(net)
    assert not torch.is_tensor(net[0].v) and net[0].v == 0.0


@pytest.mark.gpu
def test_cuda_uses_spikingjelly_kernels_with_same_spikes():
    x = torch.randn(8, 4, 64, generator=torch.Generator().manual_seed(0)) * 2
    cpu = LIF()(x)
    gpu = LIF()(x.cuda())
    assert torch.equal(cpu, gpu.cpu())


@pytest.mark.parametrize("kind", ["lif", "plif"])
def test_threaded_path_on_large_layers_matches_spikingjelly(kind):
    # >= PARALLEL_MIN elements and several blocks, the last one partial
    from eventar.nn import _lif_cpu

    n = 3 * 2048 + 100
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(6, 2, n, generator=gen) * 1.5 + 0.3
    assert x.numel() >= _lif_cpu.PARALLEL_MIN
    g = torch.randn(x.shape, generator=gen)
    cfg = dict(tau=2.0, decay_input=False)
    ours, ref = _ours(kind, cfg), _sj_node(kind, cfg)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = ours(xa), ref(xb)
    assert torch.equal(sa, sb)
    (sa * g).sum().backward()
    (sb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-6)
    if kind == "plif":
        torch.testing.assert_close(ours.w.grad, ref.w.grad, rtol=1e-5, atol=1e-5)


def test_forked_child_runs_the_fast_path():
    # numba's OpenMP layer kills a forked child that opens a parallel region; eventar runs the
    # serial loop there instead.  The child checks its spikes with numpy only.
    import os
    import time

    x = torch.randn(8, 1 << 14, generator=torch.Generator().manual_seed(0)) * 2
    want = LIF()(x).numpy().copy()            # threaded in this process
    pid = os.fork()
    if pid == 0:                              # pragma: no cover - child
        ok = bool((LIF()(x).numpy() == want).all())
        os._exit(0 if ok else 3)
    deadline = time.monotonic() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung in the LIF fast path")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
