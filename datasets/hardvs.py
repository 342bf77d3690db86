"""HARDVS (Event-AHU, AAAI 2024): 300 human actions on a DAVIS346 (346×260), compact ``.npz`` events.

Layout after extracting ``MINI_HARDVS_files.zip`` (a zip of per-class zips;
:func:`eventar.datasets.extract_archive` with ``nested_zips=True`` handles it)::

    root/MINI_HARDVS_files/action_001/dvSave-2021_10_15_19_18_02.npz   (keys t, x, y, p)
    root/train_label.txt  val_label.txt  test_label.txt                 (official lists)

Official list lines are ``action_NNN/<recording> <int> <label>`` with CRLF endings and no final
newline; the label is the *last* field, 0-based, and must equal NNN − 1 (lists carrying 1-based
labels — the known off-by-one — are refused).  ``protocol="exact_6_3_1"`` reads ExACT's 6:3:1
resplit lists (``HARDVS_sampled_{train,val,test}_6_3_1.txt``; lines list PNG frames whose folder
names the recording; label = NNN − 1).  See ``datasets/cards/hardvs.md``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from eventar.errors import DatasetError

from ._base import EventDataset, user_path
from ._lists import find_file, list_lines

WIDTH, HEIGHT = 346, 260
HOW_TO_GET = (
    "HARDVS is distributed by Event-AHU (https://github.com/Event-AHU/HARDVS, 'Compact Event file' = "
    "MINI_HARDVS_files.zip, plus train_label.txt / val_label.txt / test_label.txt); extract with "
    "eventar.datasets.extract_archive(zip, root / 'MINI_HARDVS_files', nested_zips=True). "
    "See datasets/cards/hardvs.md."
)
_SAMPLE = re.compile(r"^(action_(\d{3}))/([^/]+)$")


def parse_official_list(path: Path) -> List[Tuple[str, int]]:
    """``(action_NNN/<recording>, label)`` pairs of an official HARDVS ``*_label.txt``.

    Raises:
        DatasetError: a line without a path and a label, a malformed path, or a label that is not
            NNN − 1 (names the file and line, and says when the list looks 1-based).
    """
    out = []
    for no, line in list_lines(path):
        fields = line.split()
        if len(fields) < 2:
            raise DatasetError(f"{path}:{no}: {line!r}: expected 'action_NNN/<recording> [<frames>] <label>'")
        sample, label_text = fields[0].strip("/"), fields[-1]
        m = _SAMPLE.match(sample)
        if m is None:
            raise DatasetError(f"{path}:{no}: sample {sample!r} is not of the form action_NNN/<recording>")
        try:
            label = int(label_text)
        except ValueError:
            raise DatasetError(f"{path}:{no}: label {label_text!r} is not an integer") from None
        folder_id = int(m.group(2))
        if label != folder_id - 1:
            hint = " (the list looks 1-based: HARDVS labels are 0-based, label = NNN - 1)" if label == folder_id else ""
            raise DatasetError(f"{path}:{no}: label {label} does not match folder {m.group(1)} (expected {folder_id - 1}){hint}")
        if not 0 <= label < 300:
            raise DatasetError(f"{path}:{no}: label {label} outside 0..299")
        out.append((sample, label))
    return out


def parse_exact_list(path: Path) -> List[Tuple[str, int]]:
    """``(action_NNN/<recording>, label)`` pairs of an ExACT ``HARDVS_sampled_*_6_3_1.txt``.

    Each line lists PNG frames (tab-separated) under ``/HARDVS_Sampled/action_NNN/<recording>/``;
    the label is NNN − 1.
    """
    out = []
    for no, line in list_lines(path):
        first = line.split("\t")[0].strip()
        parts = [p for p in first.split("/") if p]
        if len(parts) < 3 or not re.fullmatch(r"action_\d{3}", parts[-3]):
            raise DatasetError(f"{path}:{no}: {first!r}: expected /HARDVS_Sampled/action_NNN/<recording>/<frame>.png")
        out.append((f"{parts[-3]}/{parts[-2]}", int(parts[-3][7:]) - 1))
    return out


def read_class_names(path: Path) -> List[str]:
    """The 300 names of ``HARDVS_300_class.txt`` (``ActionNNN-name`` or ``ActionNNN name``), by label."""
    names: Dict[int, str] = {}
    for no, line in list_lines(path):
        m = re.match(r"^Action(\d{3})[-\s]?\s*(.*)$", line)
        if m is None:
            raise DatasetError(f"{path}:{no}: {line!r} is not 'ActionNNN<sep><name>'")
        names[int(m.group(1)) - 1] = m.group(2).strip()
    if sorted(names) != list(range(300)):
        raise DatasetError(f"{path}: expected class ids Action001..Action300, found {len(names)} distinct ids")
    return [names[i] for i in range(300)]


class HARDVS(EventDataset):
    """HARDVS: 300 classes, 346×260, one ``.npz`` per recording.

    Args:
        root: folder with ``MINI_HARDVS_files/`` (or the ``action_NNN`` folders directly) and the
            list files.
        split: ``"train"``, ``"val"`` or ``"test"``.
        protocol: ``"official"`` (the dataset's lists) or ``"exact_6_3_1"`` (ExACT's resplit,
            which SpikMamba's HARDVS number uses; its train/test lists are not public in any
            repository we found — supply them in ``lists_dir``).
        lists_dir: where the list files are (default: ``root``, then ``root/exact_6_3_1`` for the
            resplit).
        missing: ``"error"`` (default) raises when listed recordings are absent; ``"skip"`` drops
            them (``self.missing`` lists them).
        transform, target_transform, transforms: tonic-style callables.

    ``classes`` come from ``HARDVS_300_class.txt`` when present beside the lists, else
    ``action_001`` … ``action_300``.  ``__getitem__(i) -> (events (N,) EVENT_DTYPE, label 0..299)``.
    """

    sensor_size = (WIDTH, HEIGHT, 2)
    name = "HARDVS"

    def __init__(
        self,
        root: "str | Path",
        split: str = "train",
        protocol: str = "official",
        lists_dir: "str | Path | None" = None,
        missing: str = "error",
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
    ):
        super().__init__(transform, target_transform, transforms)
        if split not in ("train", "val", "test"):
            raise DatasetError(f"HARDVS: split must be 'train', 'val' or 'test', got {split!r}")
        if protocol not in ("official", "exact_6_3_1"):
            raise DatasetError(f"HARDVS: protocol must be 'official' or 'exact_6_3_1', got {protocol!r}")
        if missing not in ("error", "skip"):
            raise DatasetError(f"HARDVS: missing must be 'error' or 'skip', got {missing!r}")
        self.root = user_path(root)
        if not self.root.is_dir():
            raise DatasetError(f"HARDVS: root {self.root} is not a folder. {HOW_TO_GET}")
        self.split, self.protocol = split, protocol
        places: Sequence[Path] = [user_path(lists_dir)] if lists_dir is not None else [self.root, self.root / "MINI_HARDVS_files"]
        if protocol == "official":
            self.list_file = find_file(f"{split}_label.txt", places, f"HARDVS {split} list", HOW_TO_GET)
            entries = parse_official_list(self.list_file)
        else:
            if lists_dir is None:
                places = [self.root / "exact_6_3_1", self.root]
            self.list_file = find_file(
                f"HARDVS_sampled_{split}_6_3_1.txt",
                places,
                f"ExACT 6:3:1 {split} list",
                "ExACT's lists come from https://github.com/jiazhou-garland/ExACT (Dataloader/HARDVS/); only the val list "
                "was retrievable from public repositories, see datasets/cards/hardvs.md.",
            )
            entries = parse_exact_list(self.list_file)
        self.data_dir = self._find_data_dir(entries)
        self.files: List[Path] = []
        self._labels: List[int] = []
        self.missing: List[str] = []
        for sample, label in entries:
            f = self.data_dir / f"{sample}.npz"
            if f.is_file():
                self.files.append(f)
                self._labels.append(label)
            else:
                self.missing.append(sample)
        if self.missing and missing == "error":
            raise DatasetError(
                f"HARDVS: {len(self.missing)} of the {len(entries)} recordings listed in {self.list_file} are missing "
                f"from {self.data_dir} (first: {self.missing[0]}.npz); pass missing='skip' to drop them. {HOW_TO_GET}"
            )
        names_file = next((p / "HARDVS_300_class.txt" for p in [*places, self.root] if (p / "HARDVS_300_class.txt").is_file()), None)
        self.classes = read_class_names(names_file) if names_file is not None else [f"action_{i + 1:03d}" for i in range(300)]

    def _find_data_dir(self, entries: List[Tuple[str, int]]) -> Path:
        mini = self.root / "MINI_HARDVS_files"
        candidates = [mini, mini / "MINI_HARDVS_files", self.root / "HARDVS" / "MINI_HARDVS_files", self.root]
        probe = entries[0][0].split("/")[0] if entries else "action_001"
        for c in candidates:
            if (c / probe).is_dir():
                return c
        raise DatasetError(
            f"HARDVS: no {probe}/ folder in any of {[str(c) for c in candidates]}; expected "
            f"MINI_HARDVS_files/action_NNN/<recording>.npz. {HOW_TO_GET}"
        )

    def __len__(self) -> int:
        return len(self.files)

    def target_of(self, index: int) -> int:
        """Label (0..299) of recording ``index``."""
        return self._labels[self._index(index)]

    def cache_params(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "data_dir": str(self.data_dir.resolve()),
            "split": self.split,
            "protocol": self.protocol,
            "files": [f.relative_to(self.data_dir).as_posix() for f in self.files],
        }

    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        from eventar.io import read_events

        path = self.files[index]
        ev = read_events(path).events
        if ev.size and (int(ev["x"].max()) >= WIDTH or int(ev["y"].max()) >= HEIGHT):
            raise DatasetError(f"HARDVS: {path}: event coordinates reach ({int(ev['x'].max())}, {int(ev['y'].max())}), outside the 346×260 DAVIS346")
        return ev, self._labels[index]
