"""Model registry in timm's manner: one ``@register_model`` function per variant.

>>> import eventar
>>> eventar.list_models("spikepoint*")
>>> model = eventar.create_model("spikepoint_dvsgesture", num_classes=10)
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
