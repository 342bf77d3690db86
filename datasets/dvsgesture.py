"""DVS128 Gesture (IBM, Amir et al. CVPR 2017): the original AEDAT 3.1 release or tonic's npy copy.

Original release (``DvsGesture.tar.gz``, extracted)::

    root/DvsGesture/                 (or the files directly in root/)
      trials_to_train.txt            98 trial names, users 01-23
      trials_to_test.txt             24 trial names, users 24-29
      userNN_<lighting>.aedat        AEDAT 3.1, 128×128, µs timestamps
      userNN_<lighting>_labels.csv   class,startTime_usec,endTime_usec (class 1-based, 1..11)

tonic's preprocessed copy (``ibmGestureTrain.tar.gz`` / ``ibmGestureTest.tar.gz``)::

    root/DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy   N×4 (x, y, p, t in ms)

Protocols: ``"windows"`` keeps every labelled window (1176 train / 288 test on the full release);
``"per_class"`` keeps one sample per (trial, class) — tonic's convention, 1077 / 264 — taking the
first window of a class that a trial repeats.  ``num_classes=10`` drops class 11, "other
gestures" (the protocol of SpikePoint's lineage).  See ``datasets/cards/dvsgesture.md``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from eventar.errors import DatasetError

from ._base import EventDataset, user_path
from ._lists import list_lines

CLASSES = [
    "Hand clapping",
    "Right hand wave",
    "Left hand wave",
    "Right arm cw",
    "Right arm ccw",
    "Left arm cw",
    "Left arm ccw",
    "Arm roll",
    "Air drums",
    "Air guitar",
    "Other gestures",
]
"""tonic's class names; label = CSV class id − 1."""

TONIC_ARCHIVES = {
    "train": ("https://figshare.com/ndownloader/files/38022171", "ibmGestureTrain.tar.gz", "3a8f0d4120a166bac7591f77409cb105"),
    "test": ("https://figshare.com/ndownloader/files/38020584", "ibmGestureTest.tar.gz", "56070e45dadaa85fff82e0fbfbc06de5"),
}
"""tonic's public copy (figshare): split -> (url, file name, md5)."""

HOW_TO_GET = (
    "Get DvsGesture.tar.gz from IBM (https://research.ibm.com/dvsgesture/, CC BY 4.0) and extract it "
    "under the root (eventar.datasets.extract_archive), or place tonic's ibmGestureTrain/ibmGestureTest "
    "folders under <root>/DVSGesture/ (or pass download=True to fetch tonic's public copy from figshare); "
    "see the dataset card datasets/cards/dvsgesture.md."
)


@dataclasses.dataclass(frozen=True)
class GestureSample:
    """One sample: which file, which label, which time window (µs, [start, end))."""

    path: Path
    label: int
    trial: str
    start_us: int = 0
    end_us: int = -1


def read_labels_csv(path: Path) -> List[Tuple[int, int, int]]:
    """Rows ``(class 1..11, start_us, end_us)`` of a DVS Gesture ``_labels.csv``.

    Raises:
        DatasetError: missing file, bad header, non-integer field, class outside 1..11 or
            start >= end (the message names the file and line).
    """
    if not path.is_file():
        raise DatasetError(f"DVSGesture: labels file {path} not found (every trial needs userNN_<lighting>_labels.csv beside its .aedat)")
    rows = []
    for no, line in list_lines(path):
        fields = [f.strip() for f in line.split(",")]
        if no == 1 and not fields[0].lstrip("-").isdigit():
            if [f.lower() for f in fields] != ["class", "starttime_usec", "endtime_usec"]:
                raise DatasetError(f"{path}:1: header {line!r}, expected 'class,startTime_usec,endTime_usec'")
            continue
        if len(fields) != 3:
            raise DatasetError(f"{path}:{no}: {line!r} has {len(fields)} fields, expected class,startTime_usec,endTime_usec")
        try:
            cls, start, end = (int(f) for f in fields)
        except ValueError:
            raise DatasetError(f"{path}:{no}: {line!r} is not three integers") from None
        if not 1 <= cls <= 11:
            raise DatasetError(f"{path}:{no}: class {cls} is outside 1..11")
        if start >= end:
            raise DatasetError(f"{path}:{no}: window start {start} µs is not before its end {end} µs")
        rows.append((cls, start, end))
    return rows


class DVSGesture(EventDataset):
    """DVS128 Gesture at µs precision (original release) or from tonic's ms-precision npy copy.

    Args:
        root: folder holding ``DvsGesture/`` (original) or ``DVSGesture/ibmGesture{Train,Test}``
            (tonic's copy); the files may also sit directly in ``root``.
        split: ``"train"`` or ``"test"``.
        protocol: ``"windows"`` (every labelled window) or ``"per_class"`` (one per trial and
            class); tonic's copy only has ``"per_class"``.
        source: ``"auto"`` (the original when present), ``"aedat"`` or ``"tonic"``.
        num_classes: 11, or 10 to drop "other gestures".
        download: when neither copy is under ``root``, fetch tonic's public copy of ``split`` from
            figshare into ``root/DVSGesture/`` (md5-checked, extracted safely).  Nothing is
            downloaded unless this is True.
        transform, target_transform, transforms: tonic-style callables.

    ``__getitem__(i) -> (events (N,) EVENT_DTYPE, label)``; for the original release ``t`` is µs
    from the start of the labelled window.  ``samples[i]`` tells the trial and window.
    Raises:
        DatasetError: the root lacks the expected files (the message lists where it looked and how
            to get them), a listed trial or its labels file is missing, or a labels file is malformed.
    """

    sensor_size = (128, 128, 2)
    name = "DVSGesture"

    def __init__(
        self,
        root: "str | Path",
        split: str = "train",
        protocol: str = "windows",
        source: str = "auto",
        num_classes: int = 11,
        download: bool = False,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
    ):
        super().__init__(transform, target_transform, transforms)
        if split not in ("train", "test"):
            raise DatasetError(f"DVSGesture: split must be 'train' or 'test', got {split!r}")
        if protocol not in ("windows", "per_class"):
            raise DatasetError(f"DVSGesture: protocol must be 'windows' or 'per_class', got {protocol!r}")
        if source not in ("auto", "aedat", "tonic"):
            raise DatasetError(f"DVSGesture: source must be 'auto', 'aedat' or 'tonic', got {source!r}")
        if num_classes not in (10, 11):
            raise DatasetError(f"DVSGesture: num_classes must be 11 or 10 (without 'other gestures'), got {num_classes}")
        self.root = user_path(root)
        self.split, self.protocol, self.num_classes = split, protocol, int(num_classes)
        self.classes = CLASSES[: self.num_classes]
        aedat_dir = self._find_aedat_dir()
        tonic_dir = self._find_tonic_dir()
        if download and tonic_dir is None and (source == "tonic" or (source == "auto" and aedat_dir is None)):
            tonic_dir = self.download_tonic_copy(self.root, split)
        if source == "auto":
            source = "aedat" if aedat_dir is not None else ("tonic" if tonic_dir is not None else "")
        if source == "aedat" and aedat_dir is None:
            raise DatasetError(f"DVSGesture: no trials_to_{split}.txt in {self.root} or {self.root / 'DvsGesture'}. {HOW_TO_GET}")
        if source == "tonic" and tonic_dir is None:
            raise DatasetError(f"DVSGesture: no {self._tonic_folder()} folder in {self.root} or {self.root / 'DVSGesture'}. {HOW_TO_GET}")
        if not source:
            raise DatasetError(
                f"DVSGesture: {self.root} holds neither the IBM release (expected DvsGesture/trials_to_{split}.txt "
                f"with userNN_<lighting>.aedat and _labels.csv files) nor tonic's copy (expected "
                f"DVSGesture/{self._tonic_folder()}/userNN_<lighting>/<label>.npy). {HOW_TO_GET}"
            )
        self.source = source
        if source == "aedat":
            self.samples = self._index_aedat(aedat_dir)
        else:
            if protocol != "per_class":
                raise DatasetError("DVSGesture: tonic's copy has one sample per (trial, class) only; use protocol='per_class' or the original release")
            self.samples = self._index_tonic(tonic_dir)
        if not self.samples:
            raise DatasetError(f"DVSGesture: no samples found for split {split!r} under {self.root}")
        self._memo: Tuple[Optional[Path], Optional[np.ndarray]] = (None, None)

    @staticmethod
    def download_tonic_copy(root: "str | Path", split: str, url: Optional[str] = None) -> Path:
        """Download and extract tonic's copy of ``split`` into ``root/DVSGesture/``; return its folder.

        Args:
            root: dataset root.
            split: ``"train"`` or ``"test"``.
            url: override the figshare URL (e.g. a mirror); the md5 is still checked.
        Raises:
            DatasetError: download failure, checksum mismatch, unsafe archive member.
        """
        from ._archive import extract_archive
        from ._download import download_file

        default_url, filename, md5 = TONIC_ARCHIVES[split]
        base = user_path(root) / "DVSGesture"
        archive = download_file(url or default_url, base / filename, md5=md5)
        folder = base / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
        staging = extract_archive(archive, base / f".{folder.name}.extracting", force=True)
        inner = staging / folder.name
        if not inner.is_dir():
            raise DatasetError(f"{archive}: expected a top-level {folder.name}/ folder in the archive")
        inner.rename(folder)
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        return folder

    # ------------------------------------------------------------------ locating the files
    def _tonic_folder(self) -> str:
        return "ibmGestureTrain" if self.split == "train" else "ibmGestureTest"

    def _find_aedat_dir(self) -> Optional[Path]:
        for d in (self.root, self.root / "DvsGesture", self.root / "DVSGesture" / "DvsGesture"):
            if (d / f"trials_to_{self.split}.txt").is_file():
                return d
        return None

    def _find_tonic_dir(self) -> Optional[Path]:
        for d in (self.root / self._tonic_folder(), self.root / "DVSGesture" / self._tonic_folder()):
            if d.is_dir():
                return d
        return None

    def _index_aedat(self, folder: Path) -> List[GestureSample]:
        listing = folder / f"trials_to_{self.split}.txt"
        trials = [Path(line).name for _, line in list_lines(listing)]
        missing = [t for t in trials if not (folder / t).is_file()]
        if missing:
            raise DatasetError(
                f"DVSGesture: {len(missing)} of the {len(trials)} trials listed in {listing} are missing from {folder} "
                f"(first: {missing[0]}). {HOW_TO_GET}"
            )
        samples = []
        for trial in trials:
            aedat = folder / trial
            rows = read_labels_csv(folder / (Path(trial).stem + "_labels.csv"))
            seen = set()
            for cls, start, end in rows:
                label = cls - 1
                if label >= self.num_classes:
                    continue
                if self.protocol == "per_class":
                    if label in seen:
                        continue
                    seen.add(label)
                samples.append(GestureSample(aedat, label, Path(trial).stem, start, end))
        if self.protocol == "per_class":
            order = {t: k for k, t in enumerate(Path(t).stem for t in trials)}
            samples.sort(key=lambda s: (order[s.trial], s.label))
        return samples

    def _index_tonic(self, folder: Path) -> List[GestureSample]:
        samples = []
        for trial in sorted(p for p in folder.iterdir() if p.is_dir()):
            for f in trial.glob("*.npy"):
                if not f.stem.isdigit():
                    raise DatasetError(f"DVSGesture: {f} is not named <label>.npy as in tonic's copy")
                label = int(f.stem)
                if not 0 <= label < 11:
                    raise DatasetError(f"DVSGesture: {f}: label {label} outside 0..10")
                if label < self.num_classes:
                    samples.append(GestureSample(f, label, trial.name))
        samples.sort(key=lambda s: (s.trial, s.label))
        return samples

    # ------------------------------------------------------------------ dataset protocol
    def __len__(self) -> int:
        return len(self.samples)

    def target_of(self, index: int) -> int:
        """Label (0-based) of sample ``index``."""
        return self.samples[self._index(index)].label

    @property
    def users(self) -> List[int]:
        """Subject number of every sample (the NN of ``userNN_...``)."""
        return [int(s.trial.split("_")[0][4:]) for s in self.samples]

    @property
    def lighting(self) -> List[str]:
        """Lighting tag of every sample (``fluorescent``, ``led``, ...)."""
        return [s.trial.split("_", 1)[1] for s in self.samples]

    def cache_params(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": str(self.root.resolve()),
            "split": self.split,
            "protocol": self.protocol,
            "source": self.source,
            "num_classes": self.num_classes,
        }

    def _trial_events(self, path: Path) -> np.ndarray:
        if self._memo[0] != path:
            from eventar.io import read_events

            rec = read_events(path)
            if (rec.width, rec.height) != (128, 128):
                raise DatasetError(f"DVSGesture: {path} is a {rec.width}×{rec.height} recording, expected 128×128 (DVS128)")
            ev = rec.events
            if ev.size and (np.diff(ev["t"]) < 0).any():
                ev = ev[np.argsort(ev["t"], kind="stable")]
            self._memo = (path, ev)
        return self._memo[1]

    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        s = self.samples[index]
        if self.source == "tonic":
            from eventar.io.formats.numpy_io import read_npy

            return read_npy(s.path, columns="xypt", t_unit="ms").events, s.label
        ev = self._trial_events(s.path)
        a, b = np.searchsorted(ev["t"], [s.start_us, s.end_us], side="left")
        out = ev[a:b].copy()
        out["t"] -= s.start_us
        return out, s.label
