"""Properties of the counter against brute force, plus cost tables, report round trips and errors."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from eventar.energy import PRESETS, CostTable, EnergyReport, OpCount, estimate_energy, get_cost_table, register_op_cost
from eventar.errors import ConfigError, EventarError


def _brute_conv1d_sops(x, k, stride, pad, dil, l_out, c_out_per_in):
    """Count, by explicit loops, (output position, tap) pairs that read a non-zero in-bounds input."""
    n = 0
    for o in range(l_out):
        for j in range(k):
            i = o * stride - pad + j * dil
            if 0 <= i < x.shape[-1]:
                n += int((x[..., i] != 0).sum())
    return n * c_out_per_in


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 12), k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 3),
       dil=st.integers(1, 2), groups=st.sampled_from([1, 2]), density=st.floats(0, 1), seed=st.integers(0, 99))
def test_conv1d_sops_match_brute_force_fanout(length, k, stride, pad, dil, groups, density, seed):
    if dil * (k - 1) + 1 > length + 2 * pad:
        return  # no valid output
    g = torch.Generator().manual_seed(seed)
    conv = nn.Conv1d(2, 4, k, stride=stride, padding=pad, dilation=dil, groups=groups)
    x = (torch.rand(1, 3, 2, length, generator=g) < density).float()  # (T=1, B=3, C, L)
    rep = estimate_energy(_Step(conv), x, time_axis=0)
    row = rep.layer("m")
    l_out = conv(x[0]).shape[-1]
    assert row["sops"] * 3 == _brute_conv1d_sops(x, k, stride, pad, dil, l_out, 4 // groups)
    # dense MACs = the same count with every input a spike
    assert row["dense_macs"] * 3 == _brute_conv1d_sops(torch.ones_like(x), k, stride, pad, dil, l_out, 4 // groups)


class _Step(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.flatten(0, 1))


@settings(max_examples=20, deadline=None)
@given(i=st.integers(1, 9), o=st.integers(1, 9), T=st.integers(1, 4), B=st.integers(1, 3), seed=st.integers(0, 99))
def test_linear_sops_equal_dense_macs_times_rate_times_T(i, o, T, B, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, i, generator=g) < 0.4).float()
    rep = estimate_energy(_Step(nn.Linear(i, o)), x, time_axis=0)
    row = rep.layer("m")
    assert row["sops"] == pytest.approx(row["dense_macs_per_step"] * row["input_rate"] * T)


def test_conv_transpose_fanout_counts_in_bounds_outputs():
    convt = nn.ConvTranspose1d(1, 1, 3, stride=1, padding=1)  # output length = input length
    x = torch.ones(1, 1, 1, 4)
    rep = estimate_energy(_Step(convt), x, time_axis=0)
    # each input reaches 3 outputs except the two ends, which lose one tap: 2 + 3 + 3 + 2
    assert rep.layer("m")["sops"] == 10 and rep.layer("m")["op"] == "conv_transpose"


def test_fused_attention_prices_qk_by_spike_pairs_and_av_as_macs():
    q = torch.tensor([[[[1.0, 0], [1, 1]]]])  # (1, 1, L=2, E=2)
    k = torch.tensor([[[[1.0, 1], [0, 1]]]])  # S=2
    v = torch.randn(1, 1, 2, 3)

    class A(nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    rep = estimate_energy(A(), [((q, k, v), 0)], time_axis=None, time_steps=1, forward=lambda m, b: m(*b[0]))
    # fused (one aten op) or decomposed (Q and K scaled by a constant, then two bmm): same prices
    assert sum(r["sops"] for r in rep.layers) == float((q @ k.transpose(-1, -2)).sum())  # 4 pairs
    assert sum(r["macs"] for r in rep.layers) == 2 * 2 * 3  # softmax(QK) V is real x real
    assert sum(r["dense_macs"] for r in rep.layers) == 2 * 2 * 2 + 2 * 2 * 3


def test_selective_scan_is_priced_by_its_documented_count():
    scan = pytest.importorskip("eventar.nn.scan")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.A = nn.Parameter(-torch.rand(4, 3))

        def forward(self, u):  # u: (B, D=4, L)
            return scan.selective_scan_ref(u, torch.rand_like(u), self.A, torch.rand(u.shape[0], 3, u.shape[2]),
                                           torch.rand(u.shape[0], 3, u.shape[2]))

    u = torch.rand(2, 4, 5)
    rep = estimate_energy(Block(), u, time_axis=None, time_steps=5)
    rows = [r for r in rep.layers if r["op"] == "selective_scan"]
    assert len(rows) == 1 and rows[0]["priced_as"] == "MAC"
    expect = scan.scan_op_count(2, 4, 5, 3, has_D=False, has_z=False)["mac"]
    assert rows[0]["macs"] * 2 == expect
    assert len(rep.layers) == 1  # the scan's internal aten ops are not counted twice


def test_register_op_cost_for_a_module_class():
    class Custom(nn.Module):
        def forward(self, x):
            return x @ torch.ones(x.shape[-1], 2)  # internal matmul must not be double counted

    register_op_cost(Custom, lambda args, kwargs, out: OpCount(dense_macs=100, acs=7, kind="binary", nnz=1, numel=2))
    rep = estimate_energy(nn.Sequential(Custom()), torch.ones(1, 1, 3), time_axis=0)
    assert [r["name"] for r in rep.layers] == ["0"]
    assert rep.layers[0]["sops"] == 7 and rep.layers[0]["input_rate"] == 0.5
    with pytest.raises(ConfigError):
        register_op_cost(42, lambda *a: None)


def test_cost_tables_presets_and_user_tables(tmp_path):
    assert (PRESETS["45nm_fp32"].e_mac_pj, PRESETS["45nm_fp32"].e_ac_pj) == (4.6, 0.9)
    assert (PRESETS["45nm_fp16"].e_mac_pj, PRESETS["45nm_fp16"].e_ac_pj) == (1.5, 0.4)
    assert (PRESETS["45nm_int8"].e_mac_pj, PRESETS["45nm_int8"].e_ac_pj) == (0.23, 0.03)
    (tmp_path / "c.json").write_text(json.dumps({"name": "mine", "e_mac_pj": 2.0, "e_ac_pj": 0.5}))
    (tmp_path / "c.yaml").write_text("e_mac_pj: 3\ne_ac_pj: 1\n")
    assert get_cost_table(tmp_path / "c.json") == CostTable("mine", 2.0, 0.5, str(tmp_path / "c.json"))
    assert get_cost_table(str(tmp_path / "c.yaml")).e_ac_pj == 1
    x = torch.tensor([[[1.0, 1, 0, 0]]])
    rep = estimate_energy(_Step(nn.Linear(4, 1)), x, cost={"e_mac_pj": 2.0, "e_ac_pj": 0.25})
    assert rep.total_pj == pytest.approx(2 * 0.25)
    for bad in ({"e_mac_pj": 1.0}, {"e_mac_pj": -1, "e_ac_pj": 1}, {"e_mac_pj": 1, "e_ac_pj": 1, "e_add": 1}):
        with pytest.raises(ConfigError):
            get_cost_table(bad)
    with pytest.raises(EventarError, match="45nm_fp64"):
        get_cost_table("45nm_fp64")
    (tmp_path / "bad.yaml").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        get_cost_table(tmp_path / "bad.yaml")


def test_report_round_trip_markdown_and_png(tmp_path):
    x = (torch.rand(3, 2, 4) < 0.5).float()
    rep = estimate_energy(nn.Sequential(nn.Linear(4, 3)), x, time_axis=0)
    paths = rep.write(tmp_path)
    back = EnergyReport.from_json(paths["json"])
    assert back.to_dict() == json.loads(json.dumps(rep.to_dict()))
    assert back.total_pj == rep.total_pj
    md = paths["md"].read_text()
    assert "| 0 | linear | binary |" in md
    assert "NOT included in the total" in md and "memory reads/writes" in md and "4.6 pJ" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*partial*"))
    assert "SNN / ANN" in rep.summary()
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ConfigError, match="schema"):
        EnergyReport.from_json(tmp_path / "other.json")


def test_bad_inputs_raise_eventar_errors():
    fc = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ConfigError, match="expected 2"):
        estimate_energy(fc, [torch.ones(2, 1, 4), torch.ones(3, 1, 4)], time_axis=0)
    with pytest.raises(ConfigError, match="no samples"):
        estimate_energy(fc, [], time_axis=0)
    with pytest.raises(ConfigError, match="both 0"):
        estimate_energy(fc, torch.ones(2, 1, 4), time_axis=0, batch_axis=0)
    with pytest.raises(ConfigError, match="no axis"):
        estimate_energy(fc, torch.ones(4), time_axis=0)
    with pytest.raises(ConfigError, match="integer_inputs"):
        estimate_energy(fc, torch.ones(2, 1, 4), integer_inputs="maybe")
    fc.train()
    estimate_energy(fc, torch.ones(2, 1, 4))
    assert fc.training  # mode restored


def test_time_axis_auto_inference():
    from eventar.energy.estimate import infer_time_axis

    class Frames(nn.Module):  # batch-first frame model stating its frame count
        frames = 8

    class Points(nn.Module):  # makes its own time steps (rate coding)
        T = 16

    class Declared(nn.Module):
        time_axis = None
        T = 4

    assert infer_time_axis(Frames(), (2, 8, 2, 32, 32)) == (1, 8)
    assert infer_time_axis(Frames(), (8, 8, 2, 32, 32)) == (1, 8)
    assert infer_time_axis(Points(), (2, 1024, 3)) == (None, 16)
    assert infer_time_axis(Declared(), (2, 4)) == (None, 4)
    assert infer_time_axis(nn.Sequential(_Threshold(), nn.Linear(3, 2)), (5, 2, 3)) == (0, None)
    assert infer_time_axis(nn.Linear(3, 2), (5, 3)) == (None, 1)
    rep = estimate_energy(nn.Sequential(_Threshold(), nn.Linear(3, 2)), torch.ones(5, 2, 3))  # auto
    assert rep.meta["time_steps"] == 5 and rep.meta["n_samples"] == 2


class _Threshold(nn.Module):
    v_threshold = 0.5

    def forward(self, x):
        return (x > self.v_threshold).float()


@pytest.mark.gpu
def test_cuda_counts_equal_cpu_counts():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), _Threshold(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = (torch.rand(3, 2, 6, 6) < 0.3).float()  # (B, C, H, W), no time axis
    cpu = estimate_energy(net, x, time_axis=None, time_steps=1)
    gpu = estimate_energy(net.cuda(), x.cuda(), time_axis=None, time_steps=1)
    assert gpu.totals == pytest.approx(cpu.totals)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2000), density=st.floats(0, 1), scale=st.sampled_from([1.0, 0.125, 2.0, -1.0]),
       seed=st.integers(0, 99))
def test_classify_binary_scaled_integer_and_real(n, density, scale, seed):
    from eventar.energy.counter import classify

    g = torch.Generator().manual_seed(seed)
    s = (torch.rand(n, generator=g) < density).float()
    nnz = int(s.count_nonzero())
    assert classify(s * scale)[:2] == ("binary", nnz)
    assert classify(s.bool())[:2] == ("binary", nnz)
    two = s + (torch.rand(n, generator=g) < density).float()  # sum of two spike trains
    kind, nz, abs_sum = classify(two)
    assert nz == int(two.count_nonzero())
    # {0, 1} or {0, 2} alone are (scaled) spikes: one accumulate per non-zero; mixed 1s and 2s are counts
    if bool((two == 2).any()) and bool((two == 1).any()):
        assert kind == "integer" and abs_sum == float(two.sum())
    else:
        assert kind == "binary" and abs_sum == nz
    real = torch.rand(n, generator=g) + 0.01
    if n > 1 and bool((real != real[0]).any()):
        assert classify(real)[:2] == ("real", n)


def _classify_by_definition(x):
    """classify's contract, written out with comparisons only: binary when every non-zero is one
    common value, integer when every value is whole, else real."""
    nz = x[x != 0]
    if nz.numel() == 0 or bool((nz == nz[0]).all()):
        return "binary", int(nz.numel())
    if bool((x == torch.round(x)).all()):
        return "integer", int(nz.numel())
    return "real", int(nz.numel())


_TRAPS = {  # values next to 0 and 1 that a spike test built on sums could round away
    "just below 1": lambda d: 1 - torch.finfo(d).eps / 2,
    "just above 1": lambda d: 1 + torch.finfo(d).eps,
    "smallest subnormal": lambda d: torch.finfo(d).smallest_normal * torch.finfo(d).eps,
    "smallest normal": lambda d: torch.finfo(d).smallest_normal,
    "one half": lambda d: 0.5,
    "minus zero": lambda d: -0.0,
    "nan": lambda d: float("nan"),
    "two": lambda d: 2.0,
    "minus one": lambda d: -1.0,
}


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1100, 5000), density=st.floats(0, 1), dtype=st.sampled_from([torch.float32, torch.float64]),
       traps=st.lists(st.tuples(st.sampled_from(sorted(_TRAPS)), st.floats(0, 1)), max_size=3), seed=st.integers(0, 99))
def test_classify_spike_fast_path_agrees_with_the_definition(n, density, dtype, traps, seed):
    """Spike trains with a few awkward values placed after the first 1024 elements (which the
    sampled pre-check reads): the reduction-based spike test must still decide exactly."""
    from eventar.energy.counter import classify

    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, generator=g) < density).to(dtype)
    for name, where in traps:
        x[1024 + int(where * (n - 1025))] = _TRAPS[name](dtype)
    kind, nnz, _ = classify(x)
    assert (kind, nnz) == _classify_by_definition(x)
