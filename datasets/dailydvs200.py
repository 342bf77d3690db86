"""DailyDVS-200 (Wang et al., ECCV 2024): 200 daily actions, DVXplorer Lite 320×240, ``.aedat4``.

Layout::

    root/action_<ID+1>/C<ID>P<person>M<move>S<scene>_<YYYYMMDD>_<hh>_<mm>_<ss>.aedat4
    root/train_val_test/train.txt  val.txt  test.txt     (or in root/, or split_dir=...)
    root/resource/action_description.csv                  (optional: class names)
    root/all_data.json                                    (optional: per-recording attributes)

List lines are ``action_<N>/<file>.aedat4 <label>`` with label = N − 1 = the ``C`` code.  The
published val and test lists share 555 recordings (participant 4); ``val_test_overlap`` lists
them and ``dedup=True`` removes them from val so that val and test are disjoint (test is kept as
published).  See ``datasets/cards/dailydvs200.md``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from eventar.errors import DatasetError

from ._base import EventDataset, user_path
from ._lists import find_file, list_lines

WIDTH, HEIGHT = 320, 240
HOW_TO_GET = (
    "DailyDVS-200 is distributed via https://github.com/QiWang233/DailyDVS-200 (recordings: the links in its README; "
    "split lists: train_val_test/train.txt, val.txt, test.txt in that repository). "
    "See datasets/cards/dailydvs200.md."
)
_LINE = re.compile(r"^action_(\d+)/C(\d+)P(\d+)M(\d+)S(\d+)_[^/\s]*\.aedat4$")


def parse_split_list(path: Path) -> List[Tuple[str, int]]:
    """``(action_<N>/<file>.aedat4, label)`` pairs of a DailyDVS-200 split list.

    Raises:
        DatasetError: a malformed line, or a label that differs from N − 1 or from the ``C`` code
            (names the file and line).
    """
    out = []
    for no, line in list_lines(path):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(f"{path}:{no}: {line!r}: expected 'action_<N>/<file>.aedat4 <label>'")
        sample, label_text = fields
        m = _LINE.match(sample)
        if m is None:
            raise DatasetError(f"{path}:{no}: {sample!r} is not action_<N>/C<c>P<p>M<m>S<s>_<date>.aedat4")
        try:
            label = int(label_text)
        except ValueError:
            raise DatasetError(f"{path}:{no}: label {label_text!r} is not an integer") from None
        folder, code = int(m.group(1)), int(m.group(2))
        if not (label == folder - 1 == code) or not 0 <= label < 200:
            raise DatasetError(f"{path}:{no}: label {label} disagrees with folder action_{folder} (expects {folder - 1}) or code C{code}")
        out.append((sample, label))
    return out


def read_class_names(path: Path) -> List[str]:
    """Names of ``action_description.csv`` (``ID,Action,Action description``), index = label.

    The current file names two ids "roll up sleeves" and two "shake hands"; names are returned as
    written (use labels, not names, as keys).
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    rows = list(csv.reader(io.StringIO(text)))
    names: Dict[int, str] = {}
    for no, row in enumerate(rows[1:], 2):
        if not row:
            continue
        try:
            names[int(row[0])] = row[1].strip()
        except (ValueError, IndexError):
            raise DatasetError(f"{path}:{no}: expected 'ID,Action,Action description', got {row!r}") from None
    if sorted(names) != list(range(200)):
        raise DatasetError(f"{path}: expected ids 0..199, found {len(names)} distinct ids")
    return [names[i] for i in range(200)]


class DailyDVS200(EventDataset):
    """DailyDVS-200: 200 classes, 320×240, one ``.aedat4`` per recording.

    Args:
        root: dataset folder (``action_<N>/`` folders; optionally the lists and ``all_data.json``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        split_dir: folder holding ``train.txt`` / ``val.txt`` / ``test.txt`` (default: look in
            ``root/train_val_test`` then ``root``).
        dedup: drop from val the recordings that the published test list also contains.
        attributes_file: ``all_data.json`` (default: ``root/all_data.json`` when present).
        missing: ``"error"`` (default) or ``"skip"`` for listed recordings absent from ``root``.
        transform, target_transform, transforms: tonic-style callables.

    Attributes:
        val_test_overlap: sorted recordings listed in both val.txt and test.txt (None when one of
            the two lists is absent).
        files, missing: paths of the samples; listed recordings not found.

    ``__getitem__(i) -> (events (N,) EVENT_DTYPE, label 0..199)``; ``attributes(i)`` gives the
    ``all_data.json`` record of recording ``i``.
    """

    sensor_size = (WIDTH, HEIGHT, 2)
    name = "DailyDVS200"

    def __init__(
        self,
        root: "str | Path",
        split: str = "train",
        split_dir: "str | Path | None" = None,
        dedup: bool = False,
        attributes_file: "str | Path | None" = None,
        missing: str = "error",
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
    ):
        super().__init__(transform, target_transform, transforms)
        if split not in ("train", "val", "test"):
            raise DatasetError(f"DailyDVS200: split must be 'train', 'val' or 'test', got {split!r}")
        if missing not in ("error", "skip"):
            raise DatasetError(f"DailyDVS200: missing must be 'error' or 'skip', got {missing!r}")
        self.root = user_path(root)
        if not self.root.is_dir():
            raise DatasetError(f"DailyDVS200: root {self.root} is not a folder; expected root/action_<N>/<recording>.aedat4. {HOW_TO_GET}")
        self.split, self.dedup = split, bool(dedup)
        places: Sequence[Path] = [user_path(split_dir)] if split_dir is not None else [self.root / "train_val_test", self.root]
        self.list_file = find_file(f"{split}.txt", places, f"DailyDVS-200 {split} list", HOW_TO_GET)
        entries = parse_split_list(self.list_file)
        self.val_test_overlap: Optional[List[str]] = None
        if split in ("val", "test"):
            other = "test" if split == "val" else "val"
            other_file = next((Path(p) / f"{other}.txt" for p in places if (Path(p) / f"{other}.txt").is_file()), None)
            if other_file is not None:
                others = {s for s, _ in parse_split_list(other_file)}
                self.val_test_overlap = sorted(s for s, _ in entries if s in others)
        if self.dedup and split == "val":
            if self.val_test_overlap is None:
                raise DatasetError(f"DailyDVS200: dedup=True needs test.txt beside {self.list_file} to know the overlap")
            drop = set(self.val_test_overlap)
            entries = [(s, lab) for s, lab in entries if s not in drop]
        elif self.val_test_overlap and not self.dedup:
            warnings.warn(
                f"DailyDVS-200: {len(self.val_test_overlap)} recordings are in both val.txt and test.txt "
                "(as published); use dedup=True for a val split disjoint from test",
                stacklevel=2,
            )
        self.data_dir = self._find_data_dir(entries)
        self.files: List[Path] = []
        self._labels: List[int] = []
        self.missing: List[str] = []
        for sample, label in entries:
            f = self.data_dir / sample
            if f.is_file():
                self.files.append(f)
                self._labels.append(label)
            else:
                self.missing.append(sample)
        if self.missing and missing == "error":
            raise DatasetError(
                f"DailyDVS200: {len(self.missing)} of the {len(entries)} recordings listed in {self.list_file} are missing "
                f"from {self.data_dir} (first: {self.missing[0]}); pass missing='skip' to drop them. {HOW_TO_GET}"
            )
        names = next((p / "action_description.csv" for p in [self.root / "resource", self.root, *places] if (p / "action_description.csv").is_file()), None)
        self.classes = read_class_names(names) if names is not None else [f"action_{i}" for i in range(200)]
        attr = user_path(attributes_file) if attributes_file is not None else self.root / "all_data.json"
        if attributes_file is not None and not attr.is_file():
            raise DatasetError(f"DailyDVS200: attributes file {attr} not found (all_data.json is linked from the DailyDVS-200 README)")
        self._attributes = self._read_attributes(attr) if attr.is_file() else None

    def _find_data_dir(self, entries: List[Tuple[str, int]]) -> Path:
        folders = {s.split("/")[0] for s, _ in entries} or {"action_1"}
        for c in (self.root, self.root / "DailyDVS-200", self.root / "data"):
            if any((c / f).is_dir() for f in folders):
                return c
        raise DatasetError(
            f"DailyDVS200: none of the {len(folders)} action_<N>/ folders named in {self.list_file.name} is under {self.root}; "
            f"expected root/action_<N>/<recording>.aedat4. {HOW_TO_GET}"
        )

    @staticmethod
    def _read_attributes(path: Path) -> Dict[str, Dict[str, Any]]:
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: not readable JSON ({e})") from None
        if isinstance(records, dict):
            records = list(records.values())
        out = {}
        for k, rec in enumerate(records):
            if not isinstance(rec, dict) or "FileName" not in rec:
                raise DatasetError(f"{path}: record {k} has no 'FileName' (expected a list of objects as in all_data.json)")
            out[Path(str(rec["FileName"])).name.removesuffix(".aedat4")] = rec
        return out

    def __len__(self) -> int:
        return len(self.files)

    def target_of(self, index: int) -> int:
        """Label (0..199) of recording ``index``."""
        return self._labels[self._index(index)]

    @property
    def has_attributes(self) -> bool:
        """Whether an ``all_data.json`` was found."""
        return self._attributes is not None

    def attributes(self, index: int) -> Dict[str, Any]:
        """The ``all_data.json`` record of recording ``index`` (keys such as ``Scene``, ``Move``, ``Indoor/Outdoor``).

        Raises:
            DatasetError: no attribute file was loaded, or it has no record for this recording.
        """
        if self._attributes is None:
            raise DatasetError(f"DailyDVS200: no all_data.json in {self.root}; pass attributes_file=... (linked from the DailyDVS-200 README)")
        stem = self.files[self._index(index)].stem
        if stem not in self._attributes:
            raise DatasetError(f"DailyDVS200: all_data.json has no record with FileName {stem!r}")
        return dict(self._attributes[stem])

    def cache_params(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "data_dir": str(self.data_dir.resolve()),
            "split": self.split,
            "dedup": self.dedup,
            "files": [f.relative_to(self.data_dir).as_posix() for f in self.files],
        }

    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        from eventar.io import read_events

        path = self.files[index]
        rec = read_events(path)
        if (rec.width, rec.height) != (WIDTH, HEIGHT):
            raise DatasetError(f"DailyDVS200: {path} is a {rec.width}×{rec.height} recording, expected 320×240 (DVXplorer Lite)")
        return rec.events, self._labels[index]
