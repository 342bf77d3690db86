"""``estimate_energy``: run a model over some batches under the counter and build an EnergyReport."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import torch
from torch import nn

from ..errors import ConfigError
from .costs import CostTable, get_cost_table
from .counter import BINARY, INTEGER, REAL, EnergyCounter, OpCount, is_neuron_module, register_op_cost
from .report import CONVENTION, OMISSIONS, EnergyReport

__all__ = ["estimate_energy", "report_for_model", "infer_time_axis"]

_AUTO = "auto"


def _register_builtin_ops() -> None:
    """Price eventar's selective scan (a Python-level op) by its documented count, if it is loaded."""
    scan = sys.modules.get("eventar.nn.scan")
    if scan is None or not hasattr(scan, "scan_op_count"):
        return

    def cost(args, kwargs, out) -> OpCount:
        names = ("u", "delta", "A", "B", "C", "D", "z")
        given = dict(zip(names, args))
        given.update({k: v for k, v in kwargs.items() if k in names})
        u, A = given["u"], given["A"]
        n = scan.scan_op_count(int(u.shape[0]), int(u.shape[1]), int(u.shape[2]), int(A.shape[1]),
                               has_D=given.get("D") is not None, has_z=given.get("z") is not None)
        return OpCount(dense_macs=n["mac"], macs=n["mac"], kind=REAL, nnz=int(u.count_nonzero()), numel=u.numel())

    for fname in ("selective_scan", "selective_scan_ref", "selective_scan_cpu"):
        fn = getattr(scan, fname, None)
        if fn is not None:
            register_op_cost(fn, cost, name="selective_scan")


def _input_of(batch: Any) -> Any:
    """The model input of one loader item: the tensor itself, the first element of (x, y), or x/input."""
    if torch.is_tensor(batch):
        return batch
    if isinstance(batch, (tuple, list)) and batch:
        return batch[0]
    if isinstance(batch, Mapping):
        for key in ("x", "input", "inputs", "points", "frames"):
            if key in batch:
                return batch[key]
    raise ConfigError(f"cannot find the model input in a batch of type {type(batch).__name__}; "
                      "pass a tensor, an (x, y) pair, a dict with 'x', or forward=callable")


def _first_tensor(x: Any) -> Optional[torch.Tensor]:
    if torch.is_tensor(x):
        return x
    if isinstance(x, (tuple, list)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, Mapping):
        for v in x.values():
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _versions() -> dict:
    from .. import __version__

    out = {"eventar": __version__, "torch": torch.__version__, "python": platform.python_version()}
    sj = sys.modules.get("spikingjelly")
    if sj is not None:
        out["spikingjelly"] = getattr(sj, "__version__", "unknown")
    return out


#: Input layouts of eventar's model families, by class name: (time axis of the input or None,
#: dotted attribute holding T, or an int).  Shapes alone are ambiguous when B == T, so the
#: families are listed here; other models may set a ``time_axis`` attribute (and ``T``).
KNOWN_LAYOUTS = {
    "SpikePoint": (None, "cfg.timesteps"),   # (B, N, 3) points, rate coding makes T inside
    "SpikMamba": (1, "frames"),              # (B, T, C, H, W) frames
    "EventTransAct": (None, 1),              # an ANN over (B, T, C, H, W) frames: one pass per sample
}


def _attr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


def _model_time_steps(model: nn.Module) -> Optional[int]:
    for attr in ("T", "time_steps", "timesteps", "frames", "num_frames", "cfg.timesteps", "config.timesteps"):
        v = _attr(model, attr)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def infer_time_axis(model: nn.Module, shape: tuple) -> tuple:
    """Guess where T is in an input of ``shape`` (used by ``time_axis="auto"``).

    Rules, in order: the model's ``time_axis`` attribute; the layout of a known eventar family
    (:data:`KNOWN_LAYOUTS`); else, when the model states its number of time steps (``T``,
    ``time_steps``, ``timesteps``, ``frames``, ``num_frames`` or ``cfg.timesteps``), the axis 0 or 1
    of that size (1 when both match: eventar's frame models are batch-first), or None when neither
    matches (the model makes its own time steps, e.g. rate coding inside SpikePoint); else 0 for a
    model with spiking neurons (SpikingJelly's multi-step ``(T, B, ...)``), None for an ANN.

    Returns:
        ``(time_axis or None, time_steps or None)``.
    """
    if hasattr(model, "time_axis"):
        return getattr(model, "time_axis"), _model_time_steps(model)
    known = KNOWN_LAYOUTS.get(type(model).__name__)
    if known is not None:
        axis, steps = known
        return axis, (steps if isinstance(steps, int) else _attr(model, steps))
    T = _model_time_steps(model)
    if T is not None:
        hits = [ax for ax in (0, 1) if len(shape) > ax and shape[ax] == T]
        if not hits:
            return None, T
        return (1 if 1 in hits else hits[0]), T
    if any(is_neuron_module(m) for m in model.modules()):
        return 0, None
    return None, 1


def estimate_energy(
    model: nn.Module,
    batches: Union[Iterable[Any], torch.Tensor],
    cost: Union[str, "os.PathLike[str]", Mapping[str, Any], CostTable] = "45nm_fp32",
    time_axis: Union[int, None, str] = _AUTO,
    batch_axis: Optional[int] = None,
    time_steps: Optional[int] = None,
    max_batches: Optional[int] = None,
    integer_inputs: str = "mac",
    forward: Optional[Callable[[nn.Module, Any], Any]] = None,
    model_name: Optional[str] = None,
) -> EnergyReport:
    """Estimate per-sample compute energy of ``model`` on ``batches`` (conventions in :mod:`eventar.energy`).

    The model is run in eval mode under ``torch.no_grad`` (its training flag is restored after).
    Counts are exact sums over every op of every batch; they are divided by the number of samples
    (read from ``batch_axis`` of each input) and, for per-step figures, by T.

    Args:
        model: any ``nn.Module``.
        batches: a tensor (one batch) or an iterable of batches; each is a tensor, an ``(x, y, ...)``
            tuple (x is used) or a dict with ``x``.  E.g. ``x: (T, B, C, H, W)`` spikes in {0, 1} for
            a time-first SNN, ``(B, T, ...)`` batch-first, or ``(B, N, 3)`` points for a model that
            creates its time steps internally.
        cost: cost-table preset (``45nm_fp32`` default, ``45nm_fp16``, ``45nm_int8``), mapping or
            JSON/YAML path with ``e_mac_pj`` and ``e_ac_pj`` (pJ).
        time_axis: axis of T in the input (0 = time-first, 1 = batch-first), None when the input has
            no time axis (then give ``time_steps``), ``"auto"``: see :func:`infer_time_axis`.
        batch_axis: axis of the batch in the input; default 1 when ``time_axis == 0``, else 0.
        time_steps: T; read from the input when ``time_axis`` is an int; otherwise the model's ``T``
            / ``time_steps`` / ``frames`` attribute, else 1.
        max_batches: stop after this many batches.
        integer_inputs: ``"mac"`` (default, conservative) or ``"ac"`` for integer-valued inputs.
        forward: ``forward(model, batch) -> output`` when calling ``model(x)`` is not right.
        model_name: name written into the report (default: the model's class name).
    Returns:
        An :class:`~eventar.energy.report.EnergyReport` (energies in pJ per sample).
    Raises:
        ConfigError: no batches, inconsistent T, axes out of range.
    """
    table = get_cost_table(cost)
    if time_axis != _AUTO and time_axis is not None and not isinstance(time_axis, int):
        raise ConfigError(f"time_axis must be an int, None or 'auto', got {time_axis!r}")
    if torch.is_tensor(batches):
        batches = [batches]
    _register_builtin_ops()
    axes_resolved = False

    was_training = model.training
    model.eval()
    n_samples = n_batches = 0
    T = time_steps
    counter = EnergyCounter(model, integer_inputs=integer_inputs, time_axis=time_axis, time_steps=T)
    try:
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                x = _input_of(batch) if forward is None else batch
                ref = _first_tensor(x if forward is None else _input_of(batch))
                if ref is None:
                    raise ConfigError(f"batch {i}: no tensor found in the input")
                if not axes_resolved:
                    if time_axis == _AUTO:
                        time_axis, auto_t = infer_time_axis(model, tuple(ref.shape))
                        if time_axis is None and time_steps is None:
                            time_steps = auto_t
                    if batch_axis is None:
                        batch_axis = 1 if time_axis == 0 else 0
                    if time_axis is not None and time_axis == batch_axis:
                        raise ConfigError(f"time_axis and batch_axis are both {time_axis}")
                    if time_axis is None and time_steps is None:
                        time_steps = _model_time_steps(model) or 1
                    T = time_steps
                    counter.time_axis, counter.time_steps = time_axis, T
                    axes_resolved = True
                if time_axis is not None:
                    if ref.dim() <= max(time_axis, batch_axis):
                        raise ConfigError(f"batch {i}: input of shape {tuple(ref.shape)} has no axis "
                                          f"{max(time_axis, batch_axis)} (time_axis={time_axis}, batch_axis={batch_axis})")
                    t_here = int(ref.shape[time_axis])
                    if T is None:
                        T = t_here
                        counter.time_steps = T
                    elif t_here != T:
                        raise ConfigError(f"batch {i}: input has {t_here} time steps on axis {time_axis}, expected {T}")
                elif ref.dim() <= batch_axis:
                    raise ConfigError(f"batch {i}: input of shape {tuple(ref.shape)} has no batch axis {batch_axis}")
                n_samples += int(ref.shape[batch_axis])
                n_batches += 1
                with counter:
                    if forward is None:
                        model(x)
                    else:
                        forward(model, batch)
    finally:
        model.train(was_training)
    if n_samples == 0:
        raise ConfigError("estimate_energy: no samples (empty batches)")
    return _build_report(counter, table, n_samples, n_batches, int(T or 1), time_axis, batch_axis, integer_inputs,
                         model_name or type(model).__name__)


def _build_report(counter: EnergyCounter, table: CostTable, n: int, n_batches: int, T: int, time_axis, batch_axis,
                  integer_inputs: str, model_name: str) -> EnergyReport:
    ac_kinds = {BINARY} | ({INTEGER} if integer_inputs == "ac" else set())
    layers = []
    for rec in counter.records.values():
        kinds = sorted(rec.kinds)
        priced = []
        if rec.acs > 0 or (rec.kinds & ac_kinds):
            priced.append("AC")
        if rec.macs > 0:
            priced.append("MAC")
        sops, macs = rec.acs / n, rec.macs / n
        layers.append({
            "name": rec.name,
            "module_type": rec.module_type,
            "op": rec.op,
            "input_kind": kinds[0] if len(kinds) == 1 else "mixed",
            "priced_as": "+".join(priced) or "MAC",
            "input_shape": list(rec.input_shape),
            "calls": rec.calls,
            "input_rate": rec.nnz / rec.numel if rec.numel else None,
            "input_rate_2": rec.nnz2 / rec.numel2 if rec.numel2 else None,
            "dense_macs": rec.dense_macs / n,
            "dense_macs_per_step": rec.dense_macs / n / T,
            "sops": sops,
            "macs": macs,
            "energy_pj": sops * table.e_ac_pj + macs * table.e_mac_pj,
        })
    total = sum(r["energy_pj"] for r in layers)
    for r in layers:
        r["share"] = r["energy_pj"] / total if total > 0 else 0.0
    neurons = []
    for rec in counter.neurons.values():
        per_step = None
        if rec.step_numel:
            per_step = [s / m if m else 0.0 for s, m in zip(rec.step_spikes, rec.step_numel)]
        neurons.append({
            "name": rec.name,
            "module_type": rec.module_type,
            "neurons_per_step": rec.updates / n / T,
            "state_updates": rec.updates / n,
            "firing_rate": rec.spikes / rec.updates if rec.updates else 0.0,
            "firing_rate_per_step": per_step,
        })
    dense_step = sum(r["dense_macs_per_step"] for r in layers)
    ann = dense_step * table.e_mac_pj
    totals = {
        "sops": sum(r["sops"] for r in layers),
        "macs": sum(r["macs"] for r in layers),
        "dense_macs": sum(r["dense_macs"] for r in layers),
        "dense_macs_per_step": dense_step,
        "energy_pj": total,
        "energy_mj": total / 1e9,
        "ann_energy_pj": ann,
        "ann_energy_mj": ann / 1e9,
        "snn_over_ann": total / ann if ann > 0 else None,
        "neuron_state_updates": sum(x["state_updates"] for x in neurons),
    }
    totals["ops"] = totals["sops"] + totals["macs"]
    meta = {
        "model": model_name,
        "n_samples": n,
        "n_batches": n_batches,
        "time_steps": T,
        "time_axis": time_axis,
        "batch_axis": batch_axis,
        "integer_inputs": integer_inputs,
        "cost": table.to_dict(),
        "units": "ops: 1 MAC or 1 AC (not 2 FLOPs); energy: pJ per sample (mJ = 1e9 pJ)",
        "convention": CONVENTION,
        "omissions": OMISSIONS,
        "versions": _versions(),
    }
    return EnergyReport(meta=meta, layers=layers, neurons=neurons, totals=totals)


def report_for_model(model: nn.Module, batches: Union[Iterable[Any], torch.Tensor], run_dir: "os.PathLike[str] | str | None" = None,
                     print_fn: Optional[Callable[[str], Any]] = print, **kwargs: Any) -> EnergyReport:
    """One call for the end of training: estimate, print the summary, write energy.json/.md/.png.

    Args:
        model: the trained model.
        batches: a few test batches (see :func:`estimate_energy`).
        run_dir: when given, ``energy.json``, ``energy.md`` and ``energy.png`` are written there.
        print_fn: where the summary goes (None: not printed).
        **kwargs: passed to :func:`estimate_energy` (cost, time_axis, time_steps, max_batches, ...).
    Returns:
        The :class:`~eventar.energy.report.EnergyReport`.
    """
    report = estimate_energy(model, batches, **kwargs)
    if run_dir is not None:
        report.write(Path(run_dir))
    if print_fn is not None:
        print_fn(report.summary())
    return report
