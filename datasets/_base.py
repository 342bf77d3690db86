"""What every eventar dataset shares: tonic's conventions and the default data folder.

A dataset exposes ``sensor_size = (W, H, 2)``, ``classes`` (names, index = label), ``dtype``
(:data:`~eventar.events.EVENT_DTYPE`), ``ordering`` and ``__getitem__(i) -> (events, target)``
with ``transform(events)``, ``target_transform(target)`` and then ``transforms(events, target)``
applied in tonic's order.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from eventar.events import EVENT_DTYPE


def user_path(path: "os.PathLike[str] | str") -> Path:
    """``path`` as a :class:`~pathlib.Path` with a leading ``~`` expanded to the home folder, as every
    dataset root, list folder and cache folder a user passes is read (``"~/data"`` works)."""
    return Path(path).expanduser()


def default_root() -> Path:
    """Folder for downloaded / generated data: ``$EVENTAR_CACHE`` or ``~/.cache/eventar``."""
    env = os.environ.get("EVENTAR_CACHE")
    if env:
        return user_path(env)
    return Path.home() / ".cache" / "eventar"


class EventDataset(abc.ABC):
    """Base class: index checks and tonic's transform order.

    Subclasses set ``sensor_size`` and ``classes`` and implement ``__len__``, ``_load(i) ->
    (events, target)`` and ``target_of(i)`` (the label without reading events).

    Args:
        transform: ``f(events) -> anything``, applied first.
        target_transform: ``f(target) -> anything``.
        transforms: ``f(events, target) -> (events, target)``, applied last.
    """

    sensor_size: Tuple[int, int, int] = (0, 0, 2)
    classes: List[str] = []
    dtype = EVENT_DTYPE
    ordering = EVENT_DTYPE.names
    name = "EventDataset"
    version = "1"

    def __init__(
        self,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
    ):
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abc.abstractmethod
    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        """(events EVENT_DTYPE array, target) of sample ``index``, before any transform."""

    @abc.abstractmethod
    def target_of(self, index: int) -> int:
        """Label of sample ``index`` without loading its events."""

    @property
    def targets(self) -> List[int]:
        """Labels of every sample, in order (cheap: no events are read)."""
        return [self.target_of(i) for i in range(len(self))]

    def cache_params(self) -> dict:
        """Everything that determines the raw samples (the key :class:`CachedDataset` hashes)."""
        return {"name": self.name, "version": self.version}

    def _index(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index {index} out of range (len {n})")
        return i

    def raw(self, index: int) -> Tuple[np.ndarray, Any]:
        """Sample ``index`` without any transform: ``(events (N,) EVENT_DTYPE, label)``."""
        return self._load(self._index(index))

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        events, target = self._load(self._index(index))
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        if self.transforms is not None:
            events, target = self.transforms(events, target)
        return events, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, classes={len(self.classes)}, sensor_size={self.sensor_size})"
