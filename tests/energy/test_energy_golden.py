"""Golden energy figures computable by hand: spikes into Linear / padded Conv, real first layer,
spike x spike matmul, per-step rates (syops' first-step bug), both axis orders."""

import math

import pytest
import torch
from torch import nn

from eventar.energy import estimate_energy

E_AC, E_MAC = 0.9, 4.6


def _linear(i, o):
    torch.manual_seed(0)
    return nn.Linear(i, o)


def test_linear_known_spike_pattern_exact_sops_and_pj():
    # x: (T=2, B=1, 4); 3 spikes in total, each drives 3 synapses -> 9 SOPs -> 8.1 pJ
    x = torch.tensor([[[1.0, 0, 1, 0]], [[0, 0, 0, 1]]])
    rep = estimate_energy(_linear(4, 3), x, time_axis=0)
    row = rep.layer("(root)")
    assert row["input_kind"] == "binary" and row["priced_as"] == "AC"
    assert row["sops"] == 9 and row["macs"] == 0
    assert row["input_rate"] == pytest.approx(3 / 8)
    assert row["dense_macs_per_step"] == 12
    assert rep.total_pj == pytest.approx(9 * E_AC)
    assert rep.totals["ann_energy_pj"] == pytest.approx(12 * E_MAC)
    assert rep.meta["n_samples"] == 1 and rep.meta["time_steps"] == 2


def test_conv_with_padding_counts_only_in_bounds_fanout():
    # 3x3 kernel, padding 1, on a 3x3 image: fan-out corner 4, edge 6, centre 9 (sum 49), C_out = 2
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.zeros(1, 1, 1, 3, 3)  # (T, B, C, H, W)
    x[0, 0, 0, 0, 0] = 1  # corner
    x[0, 0, 0, 1, 1] = 1  # centre

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x.flatten(0, 1))

    rep = estimate_energy(Step(), x, time_axis=0)
    row = rep.layer("conv")
    assert row["dense_macs_per_step"] == 49 * 2  # not 9 * 9 * 2 = 162 (padded taps)
    assert row["sops"] == (4 + 9) * 2
    assert rep.total_pj == pytest.approx(26 * E_AC)


def test_real_valued_first_layer_is_priced_as_macs_spiking_second_as_acs():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(5, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):  # x: (T, B, 5) real
            s = (self.enc(x) > 0).float()
            self.spikes = s
            return self.fc(s)

    torch.manual_seed(1)
    net = Net()
    x = torch.randn(3, 2, 5)
    rep = estimate_energy(net, x, time_axis=0)
    enc, fc = rep.layer("enc"), rep.layer("fc")
    assert enc["input_kind"] == "real" and enc["priced_as"] == "MAC"
    assert enc["macs"] == 5 * 4 * 3  # per sample: in x out x T
    assert fc["input_kind"] == "binary"
    nnz = int(net.spikes.count_nonzero())
    assert fc["sops"] == pytest.approx(nnz * 2 / 2)  # per sample (B = 2)
    assert rep.total_pj == pytest.approx(60 * E_MAC + nnz * 2 / 2 * E_AC)


class _SpikeAttention(nn.Module):
    def forward(self, q, k):
        return torch.matmul(q, k) + torch.einsum("bij,bjk->bik", q, k)


def test_spike_by_spike_matmul_counts_exact_pairs():
    a = torch.tensor([[[1.0, 1, 0], [0, 1, 1]]])  # (B=1, 2, 3)
    b = torch.tensor([[[1.0, 0], [1, 1], [0, 1]]])  # (1, 3, 2); a @ b = [[2, 1], [1, 2]] -> 6 pairs
    rep = estimate_energy(_SpikeAttention(), [((a, b), None)], time_axis=None, time_steps=1,
                          forward=lambda m, batch: m(*batch[0]))
    rows = [r for r in rep.layers if r["op"] == "matmul"]
    assert [r["name"] for r in rows] == ["(root):matmul#0", "(root):matmul#1"]  # matmul and einsum both seen
    for r in rows:
        assert r["sops"] == 6 and r["macs"] == 0 and r["dense_macs"] == 12
        assert r["input_rate"] == pytest.approx(4 / 6) and r["input_rate_2"] == pytest.approx(4 / 6)


def test_spike_by_real_matmul_is_ac_priced_by_spike_fanout():
    a = torch.tensor([[1.0, 0, 1]])  # spikes (1, 3)
    v = torch.randn(3, 4)  # real values
    rep = estimate_energy(_SpikeAttention(), [((a.unsqueeze(0), v.unsqueeze(0)), None)], time_axis=None,
                          time_steps=1, forward=lambda m, batch: m(*batch[0]))
    r = rep.layers[0]
    assert r["sops"] == 2 * 4 and r["macs"] == 0 and r["priced_as"] == "AC"


class _Threshold(nn.Module):
    """A minimal multi-step neuron: identified by its v_threshold attribute."""

    v_threshold = 0.5

    def forward(self, x):
        return (x > self.v_threshold).float()


def test_rate_that_differs_per_time_step_uses_every_step():
    # T = 3: step 0 silent, step 1 half, step 2 all ones; syops reads step 0 only and would report 0
    x = torch.tensor([[[0.0, 0, 0, 0]], [[1, 0, 1, 0]], [[1, 1, 1, 1]]])
    net = nn.Sequential(_Threshold(), _linear(4, 2))
    rep = estimate_energy(net, x, time_axis=0)
    fc = rep.layer("1")
    assert fc["sops"] == (0 + 2 + 4) * 2
    assert fc["input_rate"] == pytest.approx(6 / 12)
    neuron = rep.neurons[0]
    assert neuron["name"] == "0"
    assert neuron["firing_rate_per_step"] == pytest.approx([0.0, 0.5, 1.0])
    assert neuron["state_updates"] == 12 and neuron["neurons_per_step"] == 4
    assert rep.totals["neuron_state_updates"] == 12
    assert rep.total_pj == pytest.approx(12 * E_AC)  # neuron updates are not in the total


class _ScaledThreshold(_Threshold):
    """Spikes times a constant (a neuron that folds a scale into its output)."""

    def forward(self, x):
        return 0.25 * (x > self.v_threshold).float()


@pytest.mark.parametrize("neuron", [_Threshold, _ScaledThreshold])
def test_per_step_rates_count_spikes_not_their_values(neuron):
    x = torch.tensor([[[0.0, 0, 0, 0]], [[1, 0, 1, 0]], [[1, 1, 1, 1]]])
    rep = estimate_energy(nn.Sequential(neuron(), _linear(4, 2)), x, time_axis=0)
    assert rep.neurons[0]["firing_rate_per_step"] == pytest.approx([0.0, 0.5, 1.0])
    assert rep.layer("1")["sops"] == (0 + 2 + 4) * 2


class _TimeFirst(nn.Module):
    def __init__(self, fc):
        super().__init__()
        self.fc = fc

    def forward(self, x):  # (T, B, F)
        return self.fc(x)


class _BatchFirst(_TimeFirst):
    def forward(self, x):  # (B, T, F): loop over time steps
        return torch.stack([self.fc(x[:, t]) for t in range(x.shape[1])], 1)


class _Folded(_TimeFirst):
    def forward(self, x):  # (T, B, F) folded into (T*B, F)
        T, B = x.shape[:2]
        return self.fc(x.reshape(T * B, -1)).reshape(T, B, -1)


def test_time_first_batch_first_and_folded_agree():
    torch.manual_seed(3)
    fc = nn.Linear(6, 5)
    x_tb = (torch.rand(4, 3, 6) < 0.3).float()  # (T=4, B=3, 6)
    nnz = int(x_tb.count_nonzero())
    reps = [
        estimate_energy(_TimeFirst(fc), x_tb, time_axis=0),
        estimate_energy(_BatchFirst(fc), x_tb.transpose(0, 1).contiguous(), time_axis=1),
        estimate_energy(_Folded(fc), x_tb, time_axis=0, batch_axis=1),
    ]
    for rep in reps:
        assert rep.meta["n_samples"] == 3 and rep.meta["time_steps"] == 4
        row = rep.layer("fc")
        assert row["sops"] == pytest.approx(nnz * 5 / 3)
        assert row["dense_macs_per_step"] == 30
        assert rep.total_pj == pytest.approx(nnz * 5 / 3 * E_AC)


def test_batches_accumulate_per_sample_over_a_loader():
    fc = _linear(4, 2)
    b1 = torch.ones(2, 1, 4)  # (T=2, B=1): 8 spikes
    b2 = torch.zeros(2, 3, 4)  # B=3: silent
    rep = estimate_energy(_TimeFirst(fc), [(b1, 0), (b2, 1)], time_axis=0)
    assert rep.meta["n_samples"] == 4 and rep.meta["n_batches"] == 2
    assert rep.layer("fc")["sops"] == pytest.approx(8 * 2 / 4)


def test_integer_inputs_priced_as_macs_by_default_or_weighted_acs():
    x = torch.tensor([[[2.0, 0, 1, 0]]])  # (T=1, B=1, 4), a sum of two spike trains
    fc = _linear(4, 3)
    mac = estimate_energy(_TimeFirst(fc), x, time_axis=0)
    assert mac.layer("fc")["input_kind"] == "integer" and mac.layer("fc")["macs"] == 12
    ac = estimate_energy(_TimeFirst(fc), x, time_axis=0, integer_inputs="ac")
    assert ac.layer("fc")["sops"] == (2 + 1) * 3 and ac.layer("fc")["macs"] == 0
    assert math.isclose(ac.total_pj, 9 * E_AC)


def test_functional_linear_with_a_buffer_weight_is_attributed_to_its_module():
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.ones(3, 4))

        def forward(self, x):
            return torch.nn.functional.linear(x, self.w)

    net = nn.Sequential(Fixed())
    rep = estimate_energy(net, torch.tensor([[[1.0, 0, 0, 1]]]), time_axis=0)
    assert [r["name"] for r in rep.layers] == ["0"] and rep.layers[0]["op"] == "linear"
    assert rep.layers[0]["sops"] == 2 * 3


def test_model_making_its_own_time_steps_reports_per_step_neuron_rates():
    class Ramp(nn.Module):
        """x: (B, 4) -> (T=3, B, 4) with x scaled by t: more spikes at later steps."""

        T = 3

        def __init__(self):
            super().__init__()
            self.neuron = _Threshold()
            self.fc = _linear(4, 2)

        def forward(self, x):
            steps = torch.stack([x * t for t in range(self.T)])
            return self.fc(self.neuron(steps))

    x = torch.tensor([[0.4, 0.3, 1.0, 0.0]])  # thresholds 0.5: t=0 none, t=1 one, t=2 three
    rep = estimate_energy(Ramp(), x)  # auto: no time axis in the input, T from the model
    assert rep.meta["time_axis"] is None and rep.meta["time_steps"] == 3
    assert rep.neurons[0]["firing_rate_per_step"] == pytest.approx([0.0, 0.25, 0.75])
    assert rep.layer("fc")["sops"] == (0 + 1 + 3) * 2
