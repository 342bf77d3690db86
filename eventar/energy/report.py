"""The energy report: per-layer table, totals per sample, conventions; JSON, Markdown and a PNG chart.

Units: operations are counted in MACs (one multiply-accumulate = 1 op, *not* 2 FLOPs) and ACs (one
accumulate), energies in pJ (totals also in mJ; 1 mJ = 1e9 pJ), all **per sample** (one inference
over all T time steps).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from ..errors import ConfigError

__all__ = ["EnergyReport", "CONVENTION", "OMISSIONS", "SCHEMA"]

SCHEMA = "eventar.energy/1"

CONVENTION = (
    "Per weight layer (conv, linear, matmul/einsum in attention, registered custom ops such as a selective "
    "scan), over all time steps and samples: binary (spike) inputs (values in {0, 1}, or {0, c} for one constant c "
    "that folds into the weights) are priced as accumulates, "
    "SOPs = sum over spikes of each spike's fan-out (= dense MACs x input firing rate x T when the fan-out is "
    "uniform), E = SOPs x E_AC; real-valued inputs (e.g. the encoding layer) are priced as dense MACs, "
    "E = MACs x E_MAC; integer-valued inputs (sums of spike trains) as MACs unless integer_inputs='ac' "
    "(|value|-weighted ACs). Convolutions count only kernel taps on in-bounds inputs (exact fan-out at padded "
    "borders). Spike x spike products count the exact number of (both non-zero) pairs. "
    "The ANN-equivalent is the same architecture run once (T = 1) with every op a dense MAC: "
    "E_ANN = dense MACs per time step x E_MAC (this assumes every counted layer runs once per time step). "
    "1 op = 1 MAC or 1 AC (not 2 FLOPs). Neuron state updates are counted and shown separately and are NOT "
    "included in the total, following Spikformer / Spike-driven Transformer / SpikePoint."
)

OMISSIONS = (
    "Not included: memory reads/writes and data movement (weights, activations, membrane states), "
    "addressing, neuron membrane updates and spike generation (listed separately), BatchNorm (assumed folded "
    "into the preceding layer), bias additions, pooling, residual additions, softmax/normalisation, encoding and "
    "pre-processing outside the model (e.g. sampling/grouping of point clouds), static/leakage energy, "
    "and any hardware mapping. The figure is a lower-bound style compute estimate comparable to papers "
    "that use the same convention, not a measurement."
)


def _fmt(x: float) -> str:
    """Compact engineering formatting for counts (1.23 k / M / G)."""
    x = float(x)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


@dataclass
class EnergyReport:
    """Energy estimate of one model on some inputs.

    Attributes:
        meta: model, samples, time steps, axes, cost table, library versions, conventions.
        layers: one dict per weight layer / functional op with ``name``, ``module_type``, ``op``,
            ``input_kind`` (binary / integer / real / mixed), ``priced_as`` (AC / MAC / AC+MAC),
            ``input_shape`` (activation operand at the first call), ``input_rate`` (fraction of non-zero
            inputs over time steps and samples), ``input_rate_2`` (second operand of an activation ×
            activation product, else None), ``dense_macs_per_step`` and ``dense_macs`` (per sample),
            ``sops`` (AC-priced, per sample), ``macs`` (MAC-priced, per sample), ``energy_pj`` (per
            sample) and ``share`` (of the total).
        neurons: one dict per neuron module with ``name``, ``module_type``, ``neurons_per_step``,
            ``state_updates`` (per sample), ``firing_rate`` and ``firing_rate_per_step`` (list or None).
        totals: ``sops``, ``macs``, ``ops`` (= sops + macs), ``dense_macs``, ``dense_macs_per_step``,
            ``energy_pj``, ``energy_mj``, ``ann_energy_pj``, ``ann_energy_mj``, ``snn_over_ann``,
            ``neuron_state_updates`` (all per sample).
    """

    meta: Dict[str, Any]
    layers: List[Dict[str, Any]]
    neurons: List[Dict[str, Any]] = field(default_factory=list)
    totals: Dict[str, Any] = field(default_factory=dict)

    @property
    def total_pj(self) -> float:
        """Estimated compute energy per sample, pJ (neuron updates excluded)."""
        return float(self.totals["energy_pj"])

    @property
    def total_mj(self) -> float:
        """Estimated compute energy per sample, mJ."""
        return float(self.totals["energy_mj"])

    @property
    def ann_pj(self) -> float:
        """Energy of the ANN-equivalent (T = 1, all dense MACs) per sample, pJ."""
        return float(self.totals["ann_energy_pj"])

    def layer(self, name: str) -> Dict[str, Any]:
        """The row named ``name``; raises ``KeyError`` listing the available rows."""
        for row in self.layers:
            if row["name"] == name:
                return row
        raise KeyError(f"no layer {name!r}; layers are {[r['name'] for r in self.layers]}")

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (schema ``eventar.energy/1``)."""
        return {"schema": SCHEMA, "meta": self.meta, "totals": self.totals, "layers": self.layers,
                "neurons": self.neurons}

    def to_json(self, path: "os.PathLike[str] | str") -> Path:
        """Write the report as JSON (temp file then rename); returns the path."""
        from ..io.atomic import atomic_output

        path = Path(path)
        with atomic_output(path, force=True) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def from_json(cls, path: "os.PathLike[str] | str") -> "EnergyReport":
        """Read a report written by :meth:`to_json`.

        Raises:
            ConfigError: the file is not an eventar energy report.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: cannot read energy report: {e}") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ConfigError(f"{path}: field 'schema' is not {SCHEMA!r}; not an eventar energy report")
        return cls(meta=data["meta"], layers=data["layers"], neurons=data.get("neurons", []), totals=data["totals"])

    # -- text -----------------------------------------------------------------------------------------
    def _header_lines(self) -> List[str]:
        m, c = self.meta, self.meta["cost"]
        src = m.get("source")
        head = ["source: " + ", ".join(f"{k} {v}" for k, v in src.items() if v is not None)] if src else []
        return head + [
            f"model: {m.get('model')}   samples: {m['n_samples']}   time steps T: {m['time_steps']}   "
            f"time axis: {m.get('time_axis')}   batch axis: {m.get('batch_axis')}",
            f"cost table: {c['name']} (E_MAC = {c['e_mac_pj']} pJ, E_AC = {c['e_ac_pj']} pJ; {c['source']})",
            "units: 1 op = 1 MAC or 1 AC (not 2 FLOPs); energies per sample",
        ]

    def _rows(self) -> List[List[str]]:
        rows = []
        for r in self.layers:
            rate = "-" if r["input_rate"] is None else f"{r['input_rate']:.4f}"
            if r.get("input_rate_2") is not None:
                rate += f" x {r['input_rate_2']:.4f}"
            rows.append([r["name"], r["op"], r["input_kind"], rate, _fmt(r["dense_macs_per_step"]), _fmt(r["sops"]),
                         _fmt(r["macs"]), f"{r['energy_pj']:.4g}", f"{100 * r['share']:.1f}%"])
        return rows

    _COLS = ["layer", "op", "input", "input rate", "dense MACs/step", "SOPs (AC)", "MACs", "energy pJ", "share"]

    def _total_lines(self) -> List[str]:
        t = self.totals
        return [
            f"total: {_fmt(t['ops'])} ops ({_fmt(t['sops'])} SOPs + {_fmt(t['macs'])} MACs) -> "
            f"{t['energy_pj']:.6g} pJ = {t['energy_mj']:.6g} mJ per sample",
            f"ANN-equivalent (T = 1, dense MACs): {_fmt(t['dense_macs_per_step'])} MACs -> {t['ann_energy_mj']:.6g} mJ "
            f"per sample; SNN / ANN = {t['snn_over_ann']:.4g}",
            f"neuron state updates (not in the total): {_fmt(t['neuron_state_updates'])} per sample",
        ]

    def summary(self) -> str:
        """A printable fixed-width table with header, per-layer rows, totals and the neuron table."""
        rows = self._rows()
        widths = [max(len(self._COLS[i]), *(len(r[i]) for r in rows)) if rows else len(self._COLS[i])
                  for i in range(len(self._COLS))]
        line = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        out = ["Energy estimate (eventar)"] + self._header_lines() + ["", line(self._COLS),
                                                                      line(["-" * w for w in widths])]
        out += [line(r) for r in rows]
        out += [""] + self._total_lines()
        if self.neurons:
            cols = ["neuron layer", "type", "neurons/step", "state updates", "firing rate"]
            cells = [[n["name"], n["module_type"], f"{n['neurons_per_step']:.6g}", _fmt(n["state_updates"]),
                      f"{n['firing_rate']:.4f}"] for n in self.neurons]
            w = [max(len(cols[i]), *(len(c[i]) for c in cells)) for i in range(len(cols))]
            fmt = lambda row: "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(row))
            out += ["", "Neuron layers (state updates not in the total):", fmt(cols), fmt(["-" * x for x in w])]
            out += [fmt(c) for c in cells]
        out += ["", "omitted: " + OMISSIONS]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The report as Markdown: header, convention, per-layer table, totals, neuron table, omissions."""
        out = ["# Energy estimate", ""] + [f"- {h}" for h in self._header_lines()] + ["", "## Convention", "",
                                                                                      self.meta.get("convention", CONVENTION), ""]
        out += ["## Per layer (per sample)", "", "| " + " | ".join(self._COLS) + " |",
                "|" + "|".join(["---"] * 3 + ["---:"] * (len(self._COLS) - 3)) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self._rows()]
        out += ["", "## Totals (per sample)", ""] + [f"- {line}" for line in self._total_lines()]
        if self.neurons:
            out += ["", "## Neuron layers (not in the total)", "",
                    "| neuron layer | type | neurons / step | state updates | firing rate | rate per time step |",
                    "|---|---|---:|---:|---:|---|"]
            for n in self.neurons:
                steps = n.get("firing_rate_per_step")
                per = " ".join(f"{v:.3f}" for v in steps) if steps else "-"
                out.append(f"| {n['name']} | {n['module_type']} | {n['neurons_per_step']:.6g} | {_fmt(n['state_updates'])} | "
                           f"{n['firing_rate']:.4f} | {per} |")
        out += ["", "## What this estimate omits", "", self.meta.get("omissions", OMISSIONS), ""]
        return "\n".join(out)

    def plot(self, path: "os.PathLike[str] | str") -> Path:
        """Per-layer energy bar chart (pJ per sample, log scale) as a PNG; returns the path."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from ..io.atomic import atomic_output

        rows = [r for r in self.layers if r["energy_pj"] > 0]
        names = [r["name"] for r in rows]
        colours = {"AC": "#4477aa", "MAC": "#cc6677", "AC+MAC": "#ddaa33"}
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(rows) + 1.2)))
        try:
            ypos = range(len(rows))
            ax.barh(list(ypos), [r["energy_pj"] for r in rows], color=[colours.get(r["priced_as"], "#888888") for r in rows])
            ax.set_yticks(list(ypos))
            ax.set_yticklabels(names, fontsize=7)
            ax.invert_yaxis()
            ax.set_xscale("log")
            dropped = len(self.layers) - len(rows)
            ax.set_xlabel("energy per sample (pJ, log scale)" + (f"; {dropped} layer(s) at 0 pJ not drawn" if dropped else ""))
            cost = self.meta["cost"]
            ax.set_title(f"{self.meta.get('model')}: {self.total_mj:.4g} mJ/sample "
                         f"(ANN-equiv. {self.totals['ann_energy_mj']:.4g} mJ), {cost['name']}", fontsize=9)
            from matplotlib.patches import Patch

            ax.legend(handles=[Patch(color=c, label=k) for k, c in colours.items()], fontsize=7, loc="lower right")
            fig.tight_layout()
            path = Path(path)
            with atomic_output(path, force=True, suffix=".png") as tmp:
                fig.savefig(tmp, dpi=120, format="png")
        finally:
            plt.close(fig)
        return path

    def write(self, folder: "os.PathLike[str] | str", stem: str = "energy") -> Dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``folder``; returns the paths."""
        from ..io.atomic import atomic_output

        folder = Path(folder)
        md = folder / f"{stem}.md"
        with atomic_output(md, force=True) as tmp:
            tmp.write_text(self.to_markdown())
        return {"json": self.to_json(folder / f"{stem}.json"), "md": md, "png": self.plot(folder / f"{stem}.png")}
