"""eventar: action recognition from event cameras with spiking neural networks.

Light to import: torch-based parts (models, training, energy) load on first use.
"""

from __future__ import annotations

from .errors import EventarError, FormatError
from .events import EVENT_DTYPE, Recording, make_events

__version__ = "0.1.0"

__all__ = [
    "EventarError",
    "FormatError",
    "EVENT_DTYPE",
    "Recording",
    "make_events",
    "read_events",
    "iter_events",
    "create_model",
    "list_models",
    "__version__",
]


def __getattr__(name: str):
    if name in ("read_events", "iter_events"):
        from . import io

        return getattr(io, name)
    if name in ("create_model", "list_models", "register_model"):
        from .models import _registry

        return getattr(_registry, name)
    raise AttributeError(f"module 'eventar' has no attribute '{name}'")
