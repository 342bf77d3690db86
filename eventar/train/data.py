"""The data pipeline: config -> dataset of recordings -> prepared samples -> batches.

Datasets are looked up by name (``data.dataset``) in a small registry; every recording is turned
into samples by the configured input (:mod:`eventar.train.inputs`) once, and the result is cached
as ``.npz`` under ``data.cache_dir`` keyed by everything that affects it.  Each sample remembers
which recording it came from, for per-recording (majority vote) accuracy.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ConfigError, DatasetError
from ..io.atomic import atomic_output
from .inputs import InputSpec

# --- dataset registry ----------------------------------------------------------------------------

_DATASETS: Dict[str, Callable[..., Any]] = {}

#: config name -> class name in eventar.datasets (resolved lazily: the module may import heavy code).
_BUILTIN = {
    "synthetic_gestures": "SyntheticGestures",
    "dvsgesture": "DVSGesture",
    "hardvs": "HARDVS",
    "dailydvs200": "DailyDVS200",
    "event_folder": "EventFolder",
}


def register_dataset(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(root, split, **args) -> dataset`` under ``name``.

    The dataset must be indexable (``ds[i] -> (events EVENT_DTYPE, int label)``), have ``len``,
    ``classes`` (list of names) and ``sensor_size`` ((W, H, P)).
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _DATASETS[name] = fn
        return fn

    return deco


def list_datasets() -> List[str]:
    """Dataset names usable as ``data.dataset``."""
    return sorted(set(_DATASETS) | set(_BUILTIN))


def build_dataset(name: str, root: Optional[str], split: str, **args: Any) -> Any:
    """Instantiate dataset ``name`` for ``split`` (config ``data.*``).

    Raises:
        ConfigError: unknown name.
        DatasetError: the dataset class is not available in this install.
    """
    if name in _DATASETS:
        return _DATASETS[name](root=root, split=split, **args)
    if name not in _BUILTIN:
        raise ConfigError(f"unknown dataset '{name}'; known datasets: {list_datasets()}")
    import eventar.datasets as ds_mod

    cls = getattr(ds_mod, _BUILTIN[name], None)
    if cls is None:
        raise DatasetError(f"dataset '{name}': eventar.datasets.{_BUILTIN[name]} is not available in this install")
    kwargs = dict(args)
    if root is not None or name != "synthetic_gestures":
        kwargs["root"] = root
    return cls(split=split, **kwargs)


# --- prepared samples ----------------------------------------------------------------------------


@dataclass
class SampleSet:
    """All samples of one split, in memory.

    Attributes:
        x: (S, ...) samples: float32 (e.g. (S, N, 3) point clouds), or the small integer dtype an
            input prepares (uint8 count frames stay uint8 in memory and in the cache; the collate
            turns a batch into float32).
        y: (S,) int64 labels.
        rec: (S,) int64 recording id of each sample (index into ``rec_labels``).
        rec_labels: (R,) int64 label of every recording (recordings with no sample included).
        classes: C class names.
    """

    x: np.ndarray
    y: np.ndarray
    rec: np.ndarray
    rec_labels: np.ndarray
    classes: List[str]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _sensor_size(ds: Any) -> Tuple[int, int, int]:
    size = getattr(ds, "sensor_size", None)
    if size is None:
        raise DatasetError(f"{type(ds).__name__} has no sensor_size")
    return tuple(int(v) for v in size)


def prepare_samples(ds: Any, spec: InputSpec) -> SampleSet:
    """Run ``spec.prepare`` on every recording of ``ds`` and stack the samples."""
    sensor = _sensor_size(ds)
    xs, ys, recs, rec_labels = [], [], [], []
    for i in range(len(ds)):
        events, label = ds[i]
        samples = np.asarray(spec.prepare(events, sensor))
        if samples.dtype not in (np.uint8, np.int8, np.uint16, np.int16):
            samples = samples.astype(np.float32, copy=False)
        rec_labels.append(int(label))
        if len(samples):
            xs.append(samples)
            ys.append(np.full(len(samples), int(label), dtype=np.int64))
            recs.append(np.full(len(samples), i, dtype=np.int64))
    if not xs:
        raise DatasetError(f"{type(ds).__name__}: no recording produced a sample (input {spec.cache_key})")
    classes = [str(c) for c in getattr(ds, "classes", range(max(rec_labels) + 1))]
    return SampleSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(recs), np.asarray(rec_labels, dtype=np.int64), classes)


def _dataset_version(name: str) -> str:
    """The ``version`` attribute of a built-in dataset class ("" for registered or unknown ones)."""
    if name not in _BUILTIN:
        return ""
    import eventar.datasets as ds_mod

    return str(getattr(getattr(ds_mod, _BUILTIN[name], None), "version", ""))


def cache_path(cfg: Dict[str, Any], split: str, spec: InputSpec) -> Path:
    """Where the prepared samples of ``split`` are cached: ``data.cache_dir``, else
    ``$EVENTAR_CACHE/prepared`` or ``~/.cache/eventar/prepared``; the name hashes the dataset,
    its root and args, the dataset class's ``version`` (a regenerated synthetic set is never served
    from an old cache), the split, the input's cache key and eventar's version."""
    from .. import __version__

    d = cfg["data"]
    key = json.dumps(
        [__version__, d["dataset"], _dataset_version(d["dataset"]), d["root"] and os.path.abspath(d["root"]), d["args"], split, spec.cache_key],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if d["cache_dir"]:
        base = Path(d["cache_dir"]).expanduser()
    else:  # the datasets' own cache root ($EVENTAR_CACHE or ~/.cache/eventar)
        base = Path(os.environ.get("EVENTAR_CACHE") or Path.home() / ".cache" / "eventar").expanduser() / "prepared"
    return base / f"{d['dataset']}-{split}-{digest}.npz"


def load_or_prepare(cfg: Dict[str, Any], split: str, spec: InputSpec, write: bool = True) -> SampleSet:
    """The prepared samples of ``split``: read from the cache, or built (and cached when ``write``).

    Raises:
        DatasetError: the dataset cannot be read or yields no sample.
    """
    path = cache_path(cfg, split, spec)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return SampleSet(z["x"], z["y"], z["rec"], z["rec_labels"], [str(c) for c in z["classes"]])
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache (e.g. an older layout): rebuild it below
    d = cfg["data"]
    ds = build_dataset(d["dataset"], d["root"], split, **d["args"])
    samples = prepare_samples(ds, spec)
    if write:
        with atomic_output(path, force=True, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=samples.x, y=samples.y, rec=samples.rec, rec_labels=samples.rec_labels, classes=np.asarray(samples.classes))
    return samples


class SampleDataset(torch.utils.data.Dataset):
    """A :class:`SampleSet` as a torch dataset of ``(sample, label, recording)``.

    With ``augment`` set, sample ``i`` at epoch ``e`` is augmented with a numpy Generator seeded
    by ``(seed, e, i)``: reproducible, and independent of worker count and of resuming.
    """

    def __init__(self, samples: SampleSet, augment: Optional[Callable[[np.ndarray, np.random.Generator], np.ndarray]] = None, seed: int = 0):
        self.samples = samples
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int, int]:
        x = self.samples.x[i]
        if self.augment is not None:
            x = self.augment(x, np.random.default_rng([self.seed, self.epoch, int(i)]))
        return x, int(self.samples.y[i]), int(self.samples.rec[i])


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int, world_size: int) -> List[List[int]]:
    """The training batches of ``epoch`` for process ``rank``: a ``DistributedSampler`` shuffle
    (seeded by ``seed + epoch``), cut into batches of ``batch_size``, the last partial batch dropped
    (so every process runs the same number of steps).

    With ``world_size`` processes the union of the processes' k-th batches is exactly the k-th
    batch of a single process with ``batch_size * world_size`` (same seed), so DDP reproduces a
    single-process run on the concatenated batch.
    """
    sampler = torch.utils.data.DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    order = list(sampler)
    n_batches = len(order) // batch_size
    if n_batches == 0:
        raise ConfigError(
            f"train set has {n} samples, fewer than one batch of {batch_size} x {world_size} processes; lower train.batch_size"
        )
    # Batch k of rank r holds permutation positions r, r+W, ... inside [k*B*W, (k+1)*B*W).
    return [order[k * batch_size:(k + 1) * batch_size] for k in range(n_batches)]


def loader(dataset: torch.utils.data.Dataset, batches: Sequence[Sequence[int]], collate: Callable, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over explicit ``batches`` of indices (in order)."""
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=list(batches), collate_fn=collate, num_workers=num_workers, persistent_workers=False
    )
