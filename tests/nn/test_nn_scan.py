"""Selective scan: the numba CPU path against the sequential reference (outputs, final state, every
gradient), golden values, gradcheck of the hand-written backward, the kernels' vectorised exp /
softplus against numpy, non-finite inputs, dispatch and argument errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from eventar.errors import EventarError
from eventar.nn.scan import (scan_op_count, selective_scan, selective_scan_cpu, selective_scan_ref)


def make_args(b, d, l, n, groups=None, dtype=torch.float32, seed=0, with_extras=True):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dtype).requires_grad_()

    bc_shape = (b, n, l) if groups is None else (b, groups, n, l)
    args = {
        "u": r(b, d, l),
        "delta": r(b, d, l, scale=0.5),
        "A": (-(torch.rand(d, n, generator=g) * 2 + 0.1)).to(dtype).requires_grad_(),
        "B": r(*bc_shape),
        "C": r(*bc_shape),
    }
    if with_extras:
        args.update(D=r(d), z=r(b, d, l), delta_bias=r(d, scale=0.3))
    return args


def run_with_grads(fn, args, state_weight=0.5, **kw):
    for t in args.values():
        t.grad = None
    y, last = fn(**args, return_last_state=True, **kw)
    # a loss touching the output nonlinearly and the final state, so every gradient path is used
    loss = (y.float() * torch.linspace(-1, 1, y.shape[-1], device=y.device)).sum() + (y.float() ** 2).sum() * 0.1
    if state_weight:
        loss = loss + last.sum() * state_weight
    loss.backward()
    out = {"out": y.detach().clone(), "last_state": last.detach().clone()}
    out.update({f"grad_{k}": v.grad.clone() for k, v in args.items()})
    return out


CASES = [
    # (batch, d_inner, length, d_state, groups, dtype, softplus, extras)
    (2, 4, 7, 3, None, torch.float32, True, True),
    (1, 6, 33, 5, 2, torch.float64, True, True),
    (3, 8, 16, 4, None, torch.float32, False, False),
    (2, 16, 64, 16, 4, torch.float32, True, True),
    (1, 3, 1, 2, None, torch.float64, False, True),
    # d_state is processed in blocks of 16 states: one exact block, two blocks, a padded second one
    (1, 4, 40, 16, None, torch.float64, True, True),
    (2, 6, 19, 20, 3, torch.float64, True, True),
    (2, 5, 13, 17, None, torch.float32, False, True),
    (1, 8, 1, 16, 2, torch.float32, True, True),
    (3, 2, 70, 32, None, torch.float32, True, False),
]


@pytest.mark.parametrize("b,d,l,n,groups,dtype,softplus,extras", CASES)
def test_cpu_scan_matches_reference(b, d, l, n, groups, dtype, softplus, extras):
    args = make_args(b, d, l, n, groups, dtype, with_extras=extras)
    ref = run_with_grads(selective_scan_ref, args, delta_softplus=softplus)
    fast = run_with_grads(selective_scan_cpu, args, delta_softplus=softplus)
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    print(f"\nshape b={b} d={d} l={l} n={n} g={groups} {dtype}: max |fast - ref|")
    for key in ref:
        assert fast[key].shape == ref[key].shape, key
        assert fast[key].dtype == ref[key].dtype, key
        diff = (fast[key] - ref[key]).abs().max().item()
        scale = max(1.0, ref[key].abs().max().item())
        print(f"  {key:>16}: {diff:.3e}")
        assert diff <= tol * scale, (key, diff)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_with_large_steps_take_the_clamped_exp_and_match_reference(dtype):
    # the kernels use an exp without range handling when every Δ_t·A·log2(e) of a row is within
    # ±124 (float32); rows beyond it (here channel 1: Δ up to ~60, |A| up to 2.1) use the clamped
    # exp. Both kinds of rows in one call, every output and gradient against the reference.
    args = make_args(2, 4, 24, 16, None, dtype, seed=21)
    with torch.no_grad():
        args["delta"][:, 1] += 60.0
    ref = run_with_grads(selective_scan_ref, args, delta_softplus=True)
    fast = run_with_grads(selective_scan_cpu, args, delta_softplus=True)
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    for key in ref:
        diff = (fast[key] - ref[key]).abs().max().item()
        print(f"large steps {dtype} {key}: {diff:.3e}")
        assert diff <= tol * max(1.0, ref[key].abs().max().item()), (key, diff)


def _kernel_math(name, x):
    """Evaluate one of the kernels' scalar functions over an array, compiled as the kernels use it."""
    from numba import njit

    from eventar.nn import _scan_cpu as K

    fn = getattr(K, name)

    @njit(fastmath=K.fm)
    def run(x, out, out2):
        for i in range(x.shape[0]):
            if name == "vsoftplus_grad":
                out[i], out2[i] = fn(x[i])
            else:
                out[i] = fn(x[i])

    out, out2 = np.empty_like(x), np.empty_like(x)
    run(x, out, out2)
    return out, out2


@pytest.mark.parametrize("dtype,rtol2,rtol", [(np.float32, 2e-7, 3e-7), (np.float64, 5e-16, 1e-14)])
def test_kernel_exp_functions_against_numpy(dtype, rtol2, rtol):
    # 2^y (the scan's decays, float32 about 1.3 ulp) and e^x (softplus, sigmoid; float64 loses a
    # few ulp at large |x| because fast-math may fold the two-part ln 2) against numpy in float64
    rng = np.random.default_rng(0)
    near = {np.float32: 124.0, np.float64: 1020.0}[dtype]
    y = rng.uniform(-near, near, 20001).astype(dtype)
    want = np.exp2(y.astype(np.float64))
    for name in ("vexp2", "vexp2_near"):
        got = _kernel_math(name, y)[0]
        rel = np.max(np.abs(got / want - 1))
        print(f"{name} {dtype.__name__}: max rel err {rel:.2e}")
        assert rel <= rtol2, name
    x = rng.uniform(-80, 80, 20001).astype(dtype)
    got = _kernel_math("vexp", x)[0]
    rel = np.max(np.abs(got / np.exp(x.astype(np.float64)) - 1))
    print(f"vexp {dtype.__name__}: max rel err {rel:.2e}")
    assert rel <= rtol
    # range handling of the clamped versions: exact 1 at 0, 0 far below, inf far above, NaN kept
    special = np.array([0.0, -1e4, -np.inf, 1e4, np.inf, np.nan], dtype=dtype)
    for name in ("vexp", "vexp2"):
        got = _kernel_math(name, special)[0]
        assert got[0] == 1.0 and got[1] == 0.0 and got[2] == 0.0, name
        assert np.isposinf(got[3]) and np.isposinf(got[4]) and np.isnan(got[5]), name


@pytest.mark.parametrize("dtype,atol", [(np.float32, 3e-7), (np.float64, 3e-15)])
def test_kernel_softplus_against_torch(dtype, atol):
    x = np.concatenate([np.linspace(-30, 30, 4001), [-1e4, 19.99, 20.0, 20.01, 1e4, -np.inf, np.inf, np.nan]]).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_()
    sp = torch.nn.functional.softplus(xt)
    sp.sum().backward()
    want, dwant = sp.detach().numpy(), xt.grad.numpy()
    got = _kernel_math("vsoftplus", x)[0]
    got2, dgot = _kernel_math("vsoftplus_grad", x)
    for name, g, w in (("softplus", got, want), ("softplus (with grad)", got2, want), ("d softplus", dgot, dwant)):
        fin = np.isfinite(w)
        err = np.max(np.abs(g[fin] - w[fin]) / np.maximum(1.0, np.abs(w[fin])))
        print(f"{name} {dtype.__name__}: max err {err:.2e}")
        assert np.array_equal(np.isnan(g), np.isnan(w)), name
        assert np.array_equal(g[np.isinf(w)], w[np.isinf(w)]), name
        assert err <= atol, name


@pytest.mark.parametrize("n", [16, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_inputs_like_reference(n, dtype):
    # inf/-inf steps (after softplus: inf and 0), an inf input and a NaN gate. With d_state a
    # multiple of 16 the NaN/inf pattern equals the reference's; with padded states (n = 3) the
    # same elements are non-finite (a padded state can turn an inf into NaN); finite ones agree.
    args = make_args(2, 4, 10, n, dtype=dtype, seed=3)
    with torch.no_grad():
        args["delta"][0, 1, 4] = float("inf")
        args["delta"][1, 2, 6] = float("-inf")
        args["u"][1, 3, 2] = float("inf")
        args["z"][0, 0, 5] = float("nan")
        y_ref, s_ref = selective_scan_ref(**args, delta_softplus=True, return_last_state=True)
        y_cpu, s_cpu = selective_scan_cpu(**args, delta_softplus=True, return_last_state=True)
    for ref, cpu in ((y_ref, y_cpu), (s_ref, s_cpu)):
        assert (~torch.isfinite(ref)).any()
        assert torch.equal(torch.isfinite(ref), torch.isfinite(cpu))
        fin = torch.isfinite(ref)
        assert torch.allclose(cpu[fin], ref[fin], rtol=1e-5, atol=1e-5)
        if n % 16 == 0:
            assert torch.equal(torch.isnan(ref), torch.isnan(cpu))
            assert torch.equal(ref[torch.isinf(ref)], cpu[torch.isinf(ref)])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_computed_in_float32(dtype):
    args = make_args(2, 4, 12, 3, None, dtype, seed=3)
    ref = run_with_grads(selective_scan_ref, args, delta_softplus=True)
    fast = run_with_grads(selective_scan_cpu, args, delta_softplus=True)
    assert fast["out"].dtype == dtype and fast["last_state"].dtype == torch.float32
    for key in ref:
        diff = (fast[key].float() - ref[key].float()).abs().max().item()
        print(f"{dtype} {key}: {diff:.3e}")
        assert diff <= 2e-2 * max(1.0, ref[key].float().abs().max().item()), key


def test_mixed_group_counts_for_B_and_C():
    args = make_args(2, 8, 10, 3, groups=None, seed=5)
    g = torch.Generator().manual_seed(9)
    args["C"] = torch.randn(2, 4, 3, 10, generator=g).requires_grad_()
    ref = run_with_grads(selective_scan_ref, args)
    fast = run_with_grads(selective_scan_cpu, args)
    for key in ref:
        assert torch.allclose(fast[key], ref[key], atol=1e-4, rtol=1e-4), key


def test_golden_values():
    # one channel, one state, two steps, worked by hand:
    # h0 = 0.5·1·1 = 0.5, y0 = 2·0.5 = 1;  h1 = e^-1·0.5 + 1·2·1, y1 = 3·h1
    u = torch.tensor([[[1.0, 2.0]]])
    delta = torch.tensor([[[0.5, 1.0]]])
    A = torch.tensor([[-1.0]])
    B = torch.tensor([[[1.0, 1.0]]])
    C = torch.tensor([[[2.0, 3.0]]])
    h1 = math.exp(-1) * 0.5 + 2.0
    for fn in (selective_scan_ref, selective_scan_cpu):
        y, last = fn(u, delta, A, B, C, return_last_state=True)
        assert y.flatten().tolist() == pytest.approx([1.0, 3 * h1], rel=1e-6)
        assert last.item() == pytest.approx(h1, rel=1e-6)
        # skip and gate: y·silu(z) + D·u·silu(z)
        z = torch.tensor([[[0.0, 1.0]]])
        y2 = fn(u, delta, A, B, C, D=torch.tensor([2.0]), z=z)
        silu1 = 1 / (1 + math.exp(-1))
        assert y2.flatten().tolist() == pytest.approx([0.0, (3 * h1 + 4.0) * silu1], rel=1e-6)


def test_time_invariant_B_C_reference_and_fallback():
    args = make_args(2, 3, 9, 4, seed=2, with_extras=False)
    g = torch.Generator().manual_seed(1)
    Bti, Cti = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    y_ref = selective_scan_ref(args["u"], args["delta"], args["A"], Bti, Cti)
    # time-invariant B, C equal input-dependent ones constant over time and batch per channel:
    # check channel by channel against the (B, N, L) form
    for ch in range(3):
        sl = slice(ch, ch + 1)
        Bv = Bti[ch][None, :, None].expand(2, 4, 9)
        Cv = Cti[ch][None, :, None].expand(2, 4, 9)
        y_ch = selective_scan_ref(args["u"][:, sl], args["delta"][:, sl], args["A"][sl], Bv, Cv)
        assert torch.allclose(y_ref[:, sl], y_ch, atol=1e-6)
    y_cpu = selective_scan_cpu(args["u"], args["delta"], args["A"], Bti, Cti)
    assert torch.equal(y_cpu, y_ref)


def test_gradcheck_hand_written_backward():
    args = make_args(2, 3, 6, 2, groups=None, dtype=torch.float64, seed=4)

    def f(u, delta, A, B, C, D, z, delta_bias):
        y, last = selective_scan_cpu(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True,
                                     return_last_state=True)
        return y, last

    assert torch.autograd.gradcheck(f, tuple(args.values()), eps=1e-6, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), d=st.integers(1, 6), l=st.integers(1, 20), n=st.integers(1, 20),
       seed=st.integers(0, 10_000))
def test_property_cpu_equals_reference(b, d, l, n, seed):
    args = make_args(b, d, l, n, seed=seed)
    with torch.no_grad():
        y_ref, s_ref = selective_scan_ref(**args, delta_softplus=True, return_last_state=True)
        y_cpu, s_cpu = selective_scan_cpu(**args, delta_softplus=True, return_last_state=True)
    assert torch.allclose(y_cpu, y_ref, atol=1e-4, rtol=1e-4)
    assert torch.allclose(s_cpu, s_ref, atol=1e-4, rtol=1e-4)


def test_dispatch_on_cpu_uses_the_numba_path():
    args = make_args(2, 4, 8, 3, seed=6)
    y_auto = selective_scan(**args, delta_softplus=True)
    y_cpu = selective_scan_cpu(**args, delta_softplus=True)
    assert torch.equal(y_auto, y_cpu)
    assert torch.equal(selective_scan(**args, delta_softplus=True, backend="ref"),
                       selective_scan_ref(**args, delta_softplus=True))
    with pytest.raises(EventarError, match="backend"):
        selective_scan(**args, backend="cuda_magic")


def test_mamba_ssm_backend_without_cuda_tensors_is_an_error():
    args = make_args(1, 2, 4, 2, seed=7)
    with pytest.raises(EventarError, match="mamba"):
        selective_scan(**args, backend="mamba_ssm")


@pytest.mark.parametrize("field,value,match", [
    ("u", torch.zeros(2, 4), "u has shape"),
    ("delta", torch.zeros(2, 4, 9), "delta has shape"),
    ("A", torch.zeros(5, 3), "A has shape"),
    ("B", torch.zeros(2, 3, 7), "B has shape"),
    ("C", torch.zeros(2, 3, 3, 8), "C has shape"),
    ("D", torch.zeros(3), "D has shape"),
    ("z", torch.zeros(2, 4, 7), "z has shape"),
])
def test_bad_shapes_name_the_argument(field, value, match):
    args = make_args(2, 4, 8, 3, seed=8)
    args[field] = value
    for fn in (selective_scan_ref, selective_scan_cpu):
        with pytest.raises(EventarError, match=match):
            fn(**args)


def test_complex_A_rejected():
    args = make_args(1, 2, 4, 2, seed=1, with_extras=False)
    args["A"] = torch.complex(args["A"].detach(), args["A"].detach())
    with pytest.raises(ValueError, match="complex"):
        selective_scan_cpu(**args)


def test_op_count_formula():
    assert scan_op_count(8, 512, 2048, 16) == {
        "mac": 8 * 512 * 2048 * (3 * 16 + 1) + 2 * 8 * 512 * 2048,
        "exp": 8 * 512 * 2048 * 16 + 8 * 512 * 2048,
    }
    assert scan_op_count(1, 1, 1, 1, has_D=False, has_z=False) == {"mac": 4, "exp": 1}


def test_import_eventar_never_imports_mamba_ssm():
    code = ("import sys, torch, eventar, eventar.nn, eventar.models\n"
            "m = eventar.create_model('spikmamba_synthetic'); m.eval()\n"
            "m(torch.zeros(1, 8, 2, 32, 32))\n"
            "bad = [k for k in ('mamba_ssm', 'causal_conv1d', 'triton') if k in sys.modules]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


@pytest.mark.gpu
def test_gpu_mamba_ssm_fused_scan_matches_reference():
    pytest.importorskip("mamba_ssm")
    args = {k: v.detach().cuda().requires_grad_() for k, v in make_args(2, 64, 256, 16, seed=11).items()}
    # mamba-ssm's backward does not propagate a gradient through the returned final state (its
    # autograd Function drops it), so the loss here uses the output only
    ref = run_with_grads(selective_scan_ref, args, state_weight=0.0, delta_softplus=True)
    fused = run_with_grads(lambda **kw: selective_scan(**kw, backend="mamba_ssm"), args, state_weight=0.0,
                           delta_softplus=True)
    for key in ref:
        diff = (fused[key] - ref[key]).abs().max().item()
        print(f"mamba-ssm vs reference {key}: {diff:.3e}")
        assert diff <= 5e-3 * max(1.0, ref[key].abs().max().item()), key


@pytest.mark.gpu
def test_gpu_reference_on_cuda_matches_cpu_kernel():
    args = make_args(2, 16, 64, 8, seed=12)
    cpu = run_with_grads(selective_scan_cpu, args, delta_softplus=True)
    cargs = {k: v.detach().cuda().requires_grad_() for k, v in args.items()}
    gpu = run_with_grads(selective_scan_ref, cargs, delta_softplus=True)
    for key in cpu:
        assert torch.allclose(gpu[key].cpu(), cpu[key], atol=1e-3, rtol=1e-3), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_decays_and_nan_match_reference(dtype):
    # exp(Δ·A) over the vectorised exp's whole range: underflow to 0, values near 1, tiny steps
    args = make_args(1, 4, 6, 3, dtype=dtype, seed=13, with_extras=False)
    with torch.no_grad():
        args["delta"].copy_(torch.tensor([1e-8, 1e-3, 0.5, 3.0, 50.0, 1e3], dtype=dtype).expand(1, 4, 6))
        args["A"].copy_(torch.tensor([-1e-3, -1.0, -30.0], dtype=dtype).expand(4, 3))
        y_ref, s_ref = selective_scan_ref(**args, return_last_state=True)
        y_cpu, s_cpu = selective_scan_cpu(**args, return_last_state=True)
        assert torch.allclose(y_cpu, y_ref, rtol=1e-5, atol=1e-6)
        assert torch.allclose(s_cpu, s_ref, rtol=1e-5, atol=1e-6)
        args["delta"][0, 1, 2] = float("nan")
        y_nan = selective_scan_cpu(**args)
    assert torch.isnan(y_nan[0, 1, 2:]).all() and not torch.isnan(y_nan[0, 0]).any()
