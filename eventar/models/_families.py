"""Imports every model family module of :mod:`eventar.models` (those not starting with ``_``),
so that their ``@register_model`` entries exist.  Adding a family is adding a module."""

import importlib
import pkgutil

from . import __path__ as _models_path

for _m in pkgutil.iter_modules(_models_path):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__package__}.{_m.name}")
