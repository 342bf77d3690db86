"""EventFolder: any tree ``root/<class>/<recording>`` in any format :func:`eventar.io.read_events` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from eventar.errors import DatasetError

from ._base import EventDataset, user_path


def _is_candidate(path: Path) -> bool:
    name = path.name
    return path.is_file() and not name.startswith(".") and not name.endswith((".partial", ".tmp", ".txt", ".csv", ".json", ".md"))


class EventFolder(EventDataset):
    """Recordings sorted into one sub-folder per class; labels follow the sorted class names.

    Layout::

        root/
          clap/ rec001.aedat4  rec002.h5 ...
          wave/ a.npz ...

    Files are found recursively under each class folder (hidden files, ``*.partial`` leftovers and
    ``.txt/.csv/.json/.md`` side files are skipped); the format of each is recognised from its bytes.

    Args:
        root: the folder holding the class folders.
        classes: class names in label order (default: every sub-folder, sorted); a listed class
            without a folder raises.
        extensions: keep only files ending in one of these (e.g. ``(".aedat4",)``); None keeps all.
        sensor_size: (W, H, 2); None reads it from the first recording's header.
        transform, target_transform, transforms: tonic-style callables.

    ``__getitem__(i) -> (events (N,) EVENT_DTYPE, label int)``; ``files[i]`` is the path.
    Raises:
        DatasetError: root missing, no class folders, or no recordings found.
    """

    name = "EventFolder"

    def __init__(
        self,
        root: "str | Path",
        classes: Optional[Sequence[str]] = None,
        extensions: Optional[Sequence[str]] = None,
        sensor_size: Optional[Tuple[int, int, int]] = None,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
    ):
        super().__init__(transform, target_transform, transforms)
        self.root = user_path(root)
        if not self.root.is_dir():
            raise DatasetError(f"EventFolder: {self.root} is not a folder; expected root/<class>/<recording files>")
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes is None:
            classes = found
        missing = [c for c in classes if not (self.root / c).is_dir()]
        if missing:
            raise DatasetError(f"EventFolder: class folder(s) {missing} not found under {self.root}")
        if not classes:
            raise DatasetError(f"EventFolder: {self.root} has no class sub-folders; expected root/<class>/<recording files>")
        self.classes = list(classes)
        exts = tuple(e.lower() for e in extensions) if extensions else None
        self.files: List[Path] = []
        self._labels: List[int] = []
        for label, cls in enumerate(self.classes):
            for p in sorted((self.root / cls).rglob("*")):
                if _is_candidate(p) and (exts is None or p.name.lower().endswith(exts)):
                    self.files.append(p)
                    self._labels.append(label)
        if not self.files:
            want = f" with extension {list(exts)}" if exts else ""
            raise DatasetError(f"EventFolder: no recording files{want} under {self.root}/<class>/ for classes {self.classes}")
        self._sensor_size = tuple(sensor_size) if sensor_size is not None else None

    @property
    def sensor_size(self) -> Tuple[int, int, int]:  # type: ignore[override]
        """(W, H, 2): as given, else from the first recording's header."""
        if self._sensor_size is None:
            from eventar.io import read_header

            self._sensor_size = read_header(self.files[0]).sensor_size
        return self._sensor_size

    def __len__(self) -> int:
        return len(self.files)

    def target_of(self, index: int) -> int:
        """Label of recording ``index`` (its class folder's position in ``classes``)."""
        return self._labels[self._index(index)]

    def cache_params(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "root": str(self.root.resolve()),
            "classes": self.classes,
            "files": [str(p.relative_to(self.root)) for p in self.files],
        }

    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        from eventar.io import read_events

        return read_events(self.files[index]).events, self._labels[index]
