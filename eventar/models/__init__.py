"""Models: one module per family, each registering its variants (see :mod:`eventar.models._registry`)."""

from ._registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
