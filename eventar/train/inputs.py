"""Model inputs: how recordings become training samples, how samples become a batch, how the
model's output becomes a loss and class scores.

A model family plugs into the engine by registering one input builder, in a module
``eventar/train/inputs_<family>.py`` (discovered automatically), rather than by editing the loop::

    @register_input("frames")
    def frames(n_bins: int = 16, **kw) -> InputSpec:
        return InputSpec(prepare=..., collate=...)

The engine calls, in order: ``spec.prepare(events, sensor_size)`` once per recording (the result
is cached), ``spec.augment(sample, generator)`` per training sample, ``spec.collate`` per batch,
``spec.forward(model, x)``, then ``spec.loss`` (or the configured loss) and ``spec.scores``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ConfigError


def default_collate(samples: Sequence[Tuple[np.ndarray, int, int]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack ``(x, label, recording)`` samples into ``(x: (B, ...) float32, y: (B,), rec: (B,))``."""
    x = torch.from_numpy(np.stack([s[0] for s in samples]).astype(np.float32, copy=False))
    y = torch.tensor([int(s[1]) for s in samples], dtype=torch.long)
    r = torch.tensor([int(s[2]) for s in samples], dtype=torch.long)
    return x, y, r


def default_forward(model: torch.nn.Module, x: Any) -> Any:
    """``model(x)``."""
    return model(x)


def default_scores(output: torch.Tensor) -> torch.Tensor:
    """Class scores (B, C) from a model output of shape (B, C), or (T, B, C) averaged over T."""
    if output.dim() == 3:
        return output.mean(dim=0)
    if output.dim() != 2:
        raise ConfigError(f"model output has shape {tuple(output.shape)}; expected (B, C) or (T, B, C)")
    return output


@dataclass(frozen=True)
class InputSpec:
    """What the engine needs to turn recordings into batches and outputs into losses.

    Attributes:
        prepare: ``(events: EVENT_DTYPE array, sensor_size: (W, H, P)) -> (n, ...)`` array of the
            recording's samples (n may be 0: the recording then contributes no sample).
        collate: list of ``(sample, label, recording_id)`` -> ``(x, y, rec)``; ``x`` may be a
            tensor or a tuple of tensors (e.g. two augmented views).
        augment: optional ``(sample, numpy Generator) -> sample`` applied to training samples only.
        forward: ``(model, x) -> output``.
        loss: optional ``(output, y) -> scalar``; None uses the configured ``train.loss``.
        scores: ``output -> (B, C)`` class scores for accuracy and voting.
        cache_key: a string that changes whenever ``prepare``'s result would (parameters, version).
    """

    prepare: Callable[[np.ndarray, Tuple[int, int, int]], np.ndarray]
    cache_key: str
    collate: Callable[[Sequence[Tuple[np.ndarray, int, int]]], Tuple[Any, torch.Tensor, torch.Tensor]] = default_collate
    augment: Optional[Callable[[np.ndarray, np.random.Generator], np.ndarray]] = None
    forward: Callable[[torch.nn.Module, Any], Any] = default_forward
    loss: Optional[Callable[[Any, torch.Tensor], torch.Tensor]] = None
    scores: Callable[[Any], torch.Tensor] = default_scores


_INPUTS: Dict[str, Callable[..., InputSpec]] = {}


def register_input(name: str) -> Callable[[Callable[..., InputSpec]], Callable[..., InputSpec]]:
    """Decorator: register a builder ``(**args) -> InputSpec`` under ``name`` (config ``input.name``)."""

    def deco(fn: Callable[..., InputSpec]) -> Callable[..., InputSpec]:
        if name in _INPUTS and _INPUTS[name] is not fn:
            raise ConfigError(f"input '{name}' is registered twice")
        _INPUTS[name] = fn
        return fn

    return deco


def _discover() -> None:
    """Import every ``eventar/train/inputs_<family>.py`` module (their ``@register_input`` entries
    then exist): a model family adds its input by adding such a module, never by editing this one."""
    import importlib
    import pkgutil

    from . import __path__ as train_path

    for m in pkgutil.iter_modules(train_path):
        if m.name.startswith("inputs_"):
            importlib.import_module(f"{__package__}.{m.name}")


def list_inputs() -> List[str]:
    """Registered input names (including those of every ``inputs_*`` module), sorted."""
    _discover()
    return sorted(_INPUTS)


def build_input(name: str, **args: Any) -> InputSpec:
    """Build the registered input ``name`` with keyword ``args`` (config ``input.args``).

    Raises:
        ConfigError: unknown name, or an argument the builder does not take.
    """
    if name not in _INPUTS:
        _discover()
    if name not in _INPUTS:
        raise ConfigError(f"unknown input '{name}'; registered inputs: {list_inputs()}")
    fn = _INPUTS[name]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(args) - set(params))
        if unknown:
            raise ConfigError(f"input '{name}' does not take {unknown}; it takes {sorted(params)}")
    return fn(**args)


# --- SpikePoint: each recording -> sliding-window point clouds -----------------------------------


@register_input("points")
def points(
    window_us: int = 500_000,
    step_us: int = 250_000,
    n_points: int = 1024,
    min_events: int = 101,
    seed: int = 0,
) -> InputSpec:
    """Point-cloud windows for SpikePoint: every window of a recording is one sample.

    A recording is cut into windows of ``window_us`` µs every ``step_us`` µs; a window with fewer
    than ``min_events`` events is dropped; ``n_points`` events are sampled from each (seeded by
    ``seed``), giving samples of shape (n_points, 3) float32 with columns (x/W, y/H, t normalised
    to [0, 1] within the window).  The model gets x: (B, n_points, 3).
    """
    from ..transforms import ToPointCloud

    tf_args = dict(window_us=int(window_us), step_us=int(step_us), n_points=int(n_points), min_events=int(min_events), seed=int(seed))

    def prepare(events: np.ndarray, sensor_size: Tuple[int, int, int]) -> np.ndarray:
        tf = ToPointCloud(sensor_size=tuple(sensor_size), **tf_args)
        out = tf(events)
        clouds = out[0] if isinstance(out, tuple) else out
        return np.asarray(clouds, dtype=np.float32).reshape(-1, int(n_points), 3)

    key = "points:" + ",".join(f"{k}={v}" for k, v in sorted(tf_args.items()))
    return InputSpec(prepare=prepare, cache_key=key)
