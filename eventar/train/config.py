"""Run configuration: nested defaults, a YAML file on top, then dotted ``key.sub=value`` overrides.

Every key must exist in :data:`DEFAULTS` and every value must have the default's type (an int is
accepted where a float is expected; a ``None`` default accepts anything).  The free-form sections
``model.args``, ``data.args`` and ``input.args`` are passed as keyword arguments to the model,
dataset and input builders, so any key is accepted there.

>>> cfg = load_config("experiments/spikepoint_synthetic.yaml", ["train.epochs=3", "train.lr=5e-4"])
>>> cfg["train"]["epochs"]
3
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import yaml

from ..errors import ConfigError
from ..io.atomic import atomic_output

#: Sections whose keys are free (keyword arguments of the model / dataset / input builders).
FREE_SECTIONS = ("model.args", "data.args", "input.args")

#: The defaults; an experiment YAML only lists what it changes.
DEFAULTS: Dict[str, Any] = {
    "name": None,  # run folder name under --out; None = "<config stem>-<UTC time>"
    "seed": 0,  # seeds data order, initialisation and the model's own sampling (rate coding)
    "model": {
        "name": "spikepoint_synthetic",  # a name from eventar.list_models()
        "args": {},  # keyword overrides for eventar.create_model(name, **args)
    },
    "data": {
        "dataset": "synthetic_gestures",  # see eventar.train.data.list_datasets()
        "root": None,  # dataset folder (None for the built-in synthetic set)
        "args": {},  # extra keyword arguments of the dataset class
        "train_split": "train",
        "test_split": "test",
        "cache_dir": None,  # where prepared samples are cached; None = ~/.cache/eventar/prepared
        "num_workers": 0,  # DataLoader workers (prepared samples are in memory: 0 is usually best)
    },
    "input": {
        "name": "points",  # see eventar.train.inputs.list_inputs()
        "args": {},  # keyword arguments of the input builder (window, points, ...)
    },
    "train": {
        "epochs": 10,
        "batch_size": 16,  # per process; the global batch is batch_size x world size
        "eval_batch_size": 64,
        "optimizer": "adam",  # adam | adamw | sgd
        "lr": 1e-3,
        "weight_decay": 0.0,
        "momentum": 0.9,  # sgd only
        "warmup_epochs": 0.0,  # linear warm-up length, then cosine decay to min_lr
        "min_lr": 0.0,
        "grad_clip": 0.0,  # max global grad norm; 0 = off
        "loss": "cross_entropy",  # cross_entropy | mse_onehot (SpikePoint's MSE on voted outputs)
        "label_smoothing": 0.0,  # cross_entropy only
        "amp": True,  # mixed precision on CUDA (bf16 when supported, else fp16 + GradScaler); ignored on CPU
        "ckpt_every_steps": 0,  # also write last.* every k optimizer steps inside an epoch; 0 = epoch ends only
        "eval_every": 1,  # evaluate every k epochs (and always after the last)
        "progress": "auto",  # auto (bar only on a TTY) | always | never
        "threads": 0,  # CPU threads for torch and numba kernels; 0 = their defaults (all cores)
        "deterministic": False,  # torch.use_deterministic_algorithms (CUDA runs slower)
    },
    "eval": {
        "top_k": 5,
    },
    "energy": {
        "enabled": True,  # write energy.json/md/png after training when eventar.energy is available
        "batches": 2,  # test batches used for the estimate
        "cost": "45nm_fp32",
    },
}


def _merge(base: Dict[str, Any], update: Mapping[str, Any], prefix: str, source: str) -> None:
    for key, value in update.items():
        path = f"{prefix}{key}"
        if prefix.rstrip(".") in FREE_SECTIONS:
            base[key] = value
            continue
        if key not in base:
            choices = difflib.get_close_matches(key, list(base), n=3)
            hint = f"; did you mean {', '.join(prefix + c for c in choices)}?" if choices else ""
            raise ConfigError(f"{source}: unknown config key '{path}'{hint}")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{path}' must be a mapping, got {type(value).__name__} {value!r}")
            _merge(default, value, f"{path}.", source)
        else:
            base[key] = _check_type(path, default, value, source)


def _check_type(path: str, default: Any, value: Any, source: str) -> Any:
    if default is None or (value is None and path in _NULLABLE):
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads "1e-3" as a string: accept it
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"{source}: '{path}' expects {type(default).__name__} (default {default!r}), "
            f"got {type(value).__name__} {value!r}"
        )
    return value


# Keys whose default is a value but which may be set back to null.
_NULLABLE = {"name", "data.root", "data.cache_dir"}


def parse_override(text: str) -> tuple:
    """Split ``"train.lr=5e-4"`` into ``("train.lr", 0.0005)``; the value is parsed as YAML.

    Raises:
        ConfigError: no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override '{text}': expected key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': value is not valid YAML ({e})") from None
    return key, value


def _nest(key: str, value: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node[p] = {}
        node = node[p]
    node[parts[-1]] = value
    return out


def resolve(config: Optional[Mapping[str, Any]] = None, overrides: Iterable[str] = (), source: str = "<config>") -> Dict[str, Any]:
    """Defaults, then ``config`` (a nested mapping), then dotted ``overrides``; returns a new dict.

    Raises:
        ConfigError: unknown key (with close matches), wrong type, malformed override.
    """
    cfg = copy.deepcopy(DEFAULTS)
    if config:
        _merge(cfg, config, "", source)
    for text in overrides:
        key, value = parse_override(text)
        if isinstance(_default_at(key), str) and not isinstance(value, str) and value is not None:
            value = text.partition("=")[2].strip()  # a string key keeps the text as typed ("off", "1e-3")
        _merge(cfg, _nest(key, value), "", f"override '{text}'")
    _validate(cfg)
    return cfg


def _default_at(key: str) -> Any:
    node: Any = DEFAULTS
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _validate(cfg: Dict[str, Any]) -> None:
    t = cfg["train"]
    positive = ("epochs", "batch_size", "eval_batch_size", "eval_every")
    for k in positive:
        if t[k] < 1:
            raise ConfigError(f"'train.{k}' must be >= 1, got {t[k]}")
    for k in ("lr", "weight_decay", "warmup_epochs", "min_lr", "grad_clip", "label_smoothing"):
        if t[k] < 0:
            raise ConfigError(f"'train.{k}' must be >= 0, got {t[k]}")
    if t["warmup_epochs"] > t["epochs"]:
        raise ConfigError(f"'train.warmup_epochs' ({t['warmup_epochs']}) exceeds 'train.epochs' ({t['epochs']})")
    choices = {
        "train.optimizer": ("adam", "adamw", "sgd"),
        "train.loss": ("cross_entropy", "mse_onehot"),
        "train.progress": ("auto", "always", "never"),
    }
    for path, allowed in choices.items():
        sec, key = path.split(".")
        if cfg[sec][key] not in allowed:
            raise ConfigError(f"'{path}' must be one of {allowed}, got {cfg[sec][key]!r}")


def load_config(path: "os.PathLike[str] | str | None", overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Read an experiment YAML (or only the defaults when ``path`` is None) and apply overrides.

    Raises:
        ConfigError: missing/unparsable file, unknown key, wrong type.
    """
    data: Dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = os.fspath(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    return resolve(data, overrides, source)


def save_config(cfg: Mapping[str, Any], path: "os.PathLike[str] | str") -> None:
    """Write the resolved config as YAML (atomically, replacing an existing file)."""
    with atomic_output(path, force=True) as tmp:
        Path(tmp).write_text(yaml.safe_dump(dict(cfg), sort_keys=False))
