"""Energy estimates of SNNs: firing rates, synaptic operations, MACs and picojoules per layer.

>>> from eventar.energy import estimate_energy
>>> report = estimate_energy(model, test_batches, cost="45nm_fp32", time_axis=0)  # x: (T, B, ...)
>>> print(report.summary()); report.write("runs/my_run")   # energy.json / energy.md / energy.png

Convention (written into every report): binary inputs are priced as accumulates, E_AC × SOPs with
SOPs = Σ spikes × fan-out (= dense MACs × input firing rate × T); real-valued inputs as dense MACs
× E_MAC; neuron state updates counted separately and left out of the total; 1 op = 1 MAC (not 2
FLOPs); energies per sample in pJ (mJ in totals).  Counting uses ``TorchDispatchMode``, so
functional ops (matmul / einsum in attention) are seen; see :mod:`eventar.energy.counter`.

Torch is imported on first use of the torch-based names (``import eventar.energy`` stays light).
"""

from __future__ import annotations

from .costs import PRESETS, CostTable, get_cost_table

__all__ = [
    "estimate_energy",
    "report_for_model",
    "EnergyReport",
    "EnergyCounter",
    "OpCount",
    "register_op_cost",
    "CostTable",
    "PRESETS",
    "get_cost_table",
]


def __getattr__(name: str):
    if name in ("estimate_energy", "report_for_model"):
        from . import estimate

        return getattr(estimate, name)
    if name == "EnergyReport":
        from .report import EnergyReport

        return EnergyReport
    if name in ("EnergyCounter", "OpCount", "register_op_cost"):
        from . import counter

        return getattr(counter, name)
    raise AttributeError(f"module 'eventar.energy' has no attribute '{name}'")
