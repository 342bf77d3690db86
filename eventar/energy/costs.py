"""Per-operation energy costs (pJ per MAC and per AC) and where they come from.

The presets are Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
45 nm CMOS at 0.9 V.  A MAC is priced as one multiply plus one add, an AC (the accumulate a
binary spike triggers) as one add:

============  ==========================  ==============  ============
preset        arithmetic                  E_MAC (pJ)      E_AC (pJ)
============  ==========================  ==============  ============
45nm_fp32     FP32 mult 3.7 + add 0.9     4.6             0.9
45nm_fp16     FP16 mult 1.1 + add 0.4     1.5             0.4
45nm_int8     INT8 mult 0.2 + add 0.03    0.23            0.03
============  ==========================  ==============  ============

A user table is a mapping ``{"e_mac_pj": float, "e_ac_pj": float, "name": str (optional),
"source": str (optional)}`` given as a dict, or a path to a ``.json`` / ``.yaml`` / ``.yml`` file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Union

from ..errors import ConfigError

__all__ = ["CostTable", "PRESETS", "get_cost_table"]

_HOROWITZ = "Horowitz, ISSCC 2014, 45 nm, 0.9 V"


@dataclass(frozen=True)
class CostTable:
    """Energy per operation.

    Attributes:
        name: short identifier written into reports (e.g. ``"45nm_fp32"``).
        e_mac_pj: energy of one multiply-accumulate, pJ.
        e_ac_pj: energy of one accumulate (a synaptic operation driven by a binary spike), pJ.
        source: where the figures come from.
    """

    name: str
    e_mac_pj: float
    e_ac_pj: float
    source: str = "user-supplied"

    def __post_init__(self) -> None:
        for field in ("e_mac_pj", "e_ac_pj"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"cost table {self.name!r}: field {field!r} must be a finite number >= 0 (pJ), got {value!r}")

    def to_dict(self) -> dict:
        """The table as a JSON-ready dict (energies in pJ)."""
        return asdict(self)


PRESETS: dict = {
    "45nm_fp32": CostTable("45nm_fp32", 4.6, 0.9, f"{_HOROWITZ}: FP32 mult 3.7 pJ + add 0.9 pJ"),
    "45nm_fp16": CostTable("45nm_fp16", 1.5, 0.4, f"{_HOROWITZ}: FP16 mult 1.1 pJ + add 0.4 pJ"),
    "45nm_int8": CostTable("45nm_int8", 0.23, 0.03, f"{_HOROWITZ}: INT8 mult 0.2 pJ + add 0.03 pJ"),
}


def _from_mapping(data: Mapping[str, Any], origin: str) -> CostTable:
    missing = [k for k in ("e_mac_pj", "e_ac_pj") if k not in data]
    if missing:
        raise ConfigError(f"{origin}: cost table lacks field(s) {missing}; expected e_mac_pj and e_ac_pj in pJ")
    unknown = sorted(set(data) - {"name", "e_mac_pj", "e_ac_pj", "source"})
    if unknown:
        raise ConfigError(f"{origin}: unknown cost-table field(s) {unknown}; expected name, e_mac_pj, e_ac_pj, source")
    return CostTable(
        name=str(data.get("name", "custom")),
        e_mac_pj=data["e_mac_pj"],
        e_ac_pj=data["e_ac_pj"],
        source=str(data.get("source", origin)),
    )


def get_cost_table(cost: Union[str, "os.PathLike[str]", Mapping[str, Any], CostTable] = "45nm_fp32") -> CostTable:
    """Resolve ``cost`` to a :class:`CostTable`.

    Args:
        cost: a preset name (``"45nm_fp32"``, ``"45nm_fp16"``, ``"45nm_int8"``), a
            :class:`CostTable`, a mapping with ``e_mac_pj`` and ``e_ac_pj`` (pJ), or a path to a
            JSON/YAML file holding such a mapping.
    Raises:
        ConfigError: unknown preset, unreadable file, or a table with missing/invalid fields.
    """
    if isinstance(cost, CostTable):
        return cost
    if isinstance(cost, Mapping):
        return _from_mapping(cost, "cost table")
    if isinstance(cost, (str, os.PathLike)):
        key = os.fspath(cost)
        if key in PRESETS:
            return PRESETS[key]
        path = Path(key)
        if path.suffix.lower() in (".json", ".yaml", ".yml"):
            if not path.is_file():
                raise ConfigError(f"{path}: cost-table file not found")
            text = path.read_text()
            try:
                if path.suffix.lower() == ".json":
                    data = json.loads(text)
                else:
                    import yaml

                    data = yaml.safe_load(text)
            except Exception as e:  # json.JSONDecodeError, yaml.YAMLError
                raise ConfigError(f"{path}: cannot parse cost table: {e}") from None
            if not isinstance(data, Mapping):
                raise ConfigError(f"{path}: cost table must be a mapping, got {type(data).__name__}")
            return _from_mapping(data, str(path))
        raise ConfigError(f"unknown cost table {key!r}; expected one of {sorted(PRESETS)} or a .json/.yaml file")
    raise ConfigError(f"cost must be a preset name, mapping, CostTable or path, got {type(cost).__name__}")
