"""Model registry in timm's manner: one ``@register_model`` function per variant.

>>> import eventar
>>> eventar.list_models("spikepoint*")
>>> model = eventar.create_model("spikepoint_dvsgesture", num_classes=10)

Smoke-test convention (``tests/models/test_models_registry.py`` runs forward + backward on every
registered variant): a family module defines ``example_input(model, batch_size=2) -> Tensor``
(a valid random input for a built model) and may define ``smoke_overrides(name) -> dict``
(overrides that shrink variant ``name`` to a tiny instance with the same layers) and
``smoke_forward(model, x)`` (the training-time forward when it is not ``model(x)``, e.g. one that
also returns a projection head's output).  Variants of a
family without ``smoke_overrides`` are smoke-tested at full size only with EVENTAR_SLOW=1, except
``*_synthetic`` ones.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable, Dict, List

from ..errors import ConfigError

_MODELS: Dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: register ``fn`` (a function ``**overrides -> nn.Module``) under its own name."""
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ConfigError(f"model '{name}' is registered twice")
    _MODELS[name] = fn
    return fn


def _load_families() -> None:
    # Importing the families runs their @register_model decorators.
    from . import _families  # noqa: F401


def list_models(pattern: str = "*") -> List[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    _load_families()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **overrides: Any):
    """Build a registered model; ``overrides`` replace the variant's defaults (None values ignored).

    Raises:
        ConfigError: unknown name (the message lists close names).
    """
    _load_families()
    if name not in _MODELS:
        close = [n for n in _MODELS if n.split("_")[0] == name.split("_")[0]] or sorted(_MODELS)
        raise ConfigError(f"unknown model '{name}'; registered models include {close}")
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    return _MODELS[name](**kwargs)
