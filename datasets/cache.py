"""CachedDataset: transformed samples on disk, keyed by everything that produced them.

The cache key is a SHA-256 of a *fingerprint*: the wrapped dataset's ``cache_params()`` (name,
version, split, seed, file list, ...) plus a stable description of its ``transform``,
``target_transform`` and ``transforms`` (a dataclass — e.g. eventar's and tonic's transforms —
by its class and field values; ``Compose`` by its members; a function by its module, name and
compiled code).  Changing any transform parameter therefore lands in a different folder and can
never serve stale data.

Each sample is one ``.npz`` written to a temporary file and renamed into place; it carries a
completeness marker (the key and index, written last).  An entry that cannot be read (truncated,
CRC error, foreign key) is rebuilt.  Several processes may read and fill the same cache at once:
a reader sees either no entry or a complete one.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import types
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import numpy as np

from eventar.errors import DatasetError
from eventar.io.atomic import atomic_output

from ._base import user_path

CACHE_FORMAT = "1"
_MARKER = "__eventar_cache__"


def fingerprint(obj: Any, _depth: int = 0) -> Any:
    """A JSON-able, process-independent description of a transform (or any parameter value).

    Args:
        obj: None, a number / string / bool, a numpy array or scalar, a list / tuple / dict of
            these, a dataclass, an object with a ``transforms`` list (``Compose``), a
            ``functools.partial``, a function, or any object whose ``vars()`` are fingerprintable.
    Returns:
        nested lists / dicts of strings and numbers; equal inputs give equal fingerprints.
    Raises:
        DatasetError: the object cannot be described (give ``CachedDataset`` an explicit ``key``).
    """
    if _depth > 20:
        raise DatasetError(f"cache fingerprint: {type(obj).__name__} nests too deeply to describe")
    d = _depth + 1
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, np.generic):
        return [str(obj.dtype), repr(obj.item())]
    if isinstance(obj, np.ndarray):
        return ["ndarray", str(obj.dtype), list(obj.shape), hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()]
    if isinstance(obj, np.dtype):
        return ["dtype", str(obj)]
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [fingerprint(v, d) for v in obj]]
    if isinstance(obj, dict):
        return ["dict", sorted([str(k), fingerprint(v, d)] for k, v in obj.items())]
    if isinstance(obj, Path):
        return ["path", str(obj)]
    cls = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [cls, {f.name: fingerprint(getattr(obj, f.name), d) for f in dataclasses.fields(obj)}]
    if isinstance(obj, functools.partial):
        return ["partial", fingerprint(obj.func, d), fingerprint(list(obj.args), d), fingerprint(dict(obj.keywords), d)]
    if isinstance(obj, types.MethodType):
        return ["method", fingerprint(obj.__self__, d), fingerprint(obj.__func__, d)]
    code = getattr(obj, "__code__", None)
    if code is not None:  # a Python function or lambda: its identity and its compiled code
        cells = [c.cell_contents for c in (getattr(obj, "__closure__", None) or ())]
        consts = [c for c in code.co_consts if not hasattr(c, "co_code")]
        return [
            "function",
            f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}",
            hashlib.sha256(code.co_code).hexdigest(),
            fingerprint(consts, d),
            fingerprint(cells, d),
            fingerprint(getattr(obj, "__defaults__", None), d),
        ]
    if callable(obj) and hasattr(obj, "__qualname__") and not hasattr(obj, "__dict__"):
        return ["builtin", f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"]
    if hasattr(obj, "__dict__"):
        return [cls, {k: fingerprint(v, d) for k, v in sorted(vars(obj).items()) if not k.startswith("_")}]
    raise DatasetError(f"cache fingerprint: cannot describe a {cls}; pass CachedDataset(..., key='...') explicitly")


def _to_arrays(obj: Any, prefix: str, arrays: dict) -> Any:
    """Flatten a sample into named arrays; return its structure (JSON)."""
    if isinstance(obj, (tuple, list)):
        return {"seq": type(obj).__name__, "items": [_to_arrays(v, f"{prefix}_{i}", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise DatasetError("CachedDataset: dict samples need string keys")
        return {"dict": [[k, _to_arrays(v, f"{prefix}_{k}", arrays)] for k, v in obj.items()]}
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor: stored as numpy
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, bool):
        arrays[prefix] = np.asarray(obj)
        return {"scalar": "bool", "key": prefix}
    if isinstance(obj, int):
        arrays[prefix] = np.asarray(obj, dtype=np.int64)
        return {"scalar": "int", "key": prefix}
    if isinstance(obj, float):
        arrays[prefix] = np.asarray(obj, dtype=np.float64)
        return {"scalar": "float", "key": prefix}
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise DatasetError(f"CachedDataset: cannot store an object array ({prefix})")
        arrays[prefix] = arr
        return {"array": prefix}
    raise DatasetError(f"CachedDataset: cannot store a {type(obj).__name__} ({prefix}); samples must be arrays, numbers, or tuples/dicts of them")


def _from_arrays(spec: Any, arrays: Any) -> Any:
    if "seq" in spec:
        items = [_from_arrays(s, arrays) for s in spec["items"]]
        return tuple(items) if spec["seq"] == "tuple" else items
    if "dict" in spec:
        return {k: _from_arrays(s, arrays) for k, s in spec["dict"]}
    if "scalar" in spec:
        return {"bool": bool, "int": int, "float": float}[spec["scalar"]](arrays[spec["key"]][()])
    return arrays[spec["array"]]


class CachedDataset:
    """Disk cache of ``dataset[i]`` (events after the dataset's own transforms, and target).

    Args:
        dataset: an eventar dataset (anything with ``__len__``, ``__getitem__`` and, for the key,
            ``cache_params()`` plus ``transform`` / ``target_transform`` / ``transforms``).
        cache_dir: folder of the cache; entries go to ``<cache_dir>/<name>-<key16>/<index>.npz``.
        transform: applied *after* loading (not cached; for random augmentation), tonic-style.
        target_transform: likewise for the target.
        key: explicit cache key instead of the computed fingerprint (for transforms that cannot be
            described automatically).

    ``__getitem__(i)`` returns what ``dataset[i]`` returns, with torch tensors turned into numpy
    arrays.  Attributes: ``key`` (hex), ``folder``, ``hits`` / ``misses`` (counters of this object).
    """

    def __init__(
        self,
        dataset: Any,
        cache_dir: "str | Path",
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        key: Optional[str] = None,
    ):
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform
        if key is None:
            params = dataset.cache_params() if hasattr(dataset, "cache_params") else {"class": type(dataset).__qualname__}
            desc = {
                "format": CACHE_FORMAT,
                "dataset": fingerprint(params),
                "transform": fingerprint(getattr(dataset, "transform", None)),
                "target_transform": fingerprint(getattr(dataset, "target_transform", None)),
                "transforms": fingerprint(getattr(dataset, "transforms", None)),
            }
            text = json.dumps(desc, sort_keys=True)
            key = hashlib.sha256(text.encode()).hexdigest()
        else:
            desc = {"format": CACHE_FORMAT, "explicit_key": str(key)}
        self.key = str(key)
        name = getattr(dataset, "name", type(dataset).__name__)
        self.folder = user_path(cache_dir) / f"{name}-{hashlib.sha256(self.key.encode()).hexdigest()[:16]}"
        self.description = desc
        self.hits = 0
        self.misses = 0
        info = self.folder / "key.json"
        if not info.is_file():
            with atomic_output(info, force=True, suffix=".json") as tmp:
                tmp.write_text(json.dumps({"key": self.key, "description": desc}, indent=1, sort_keys=True))

    # tonic-style attributes of the wrapped dataset
    @property
    def sensor_size(self):
        return self.dataset.sensor_size

    @property
    def classes(self):
        return self.dataset.classes

    def __len__(self) -> int:
        return len(self.dataset)

    def entry_path(self, index: int) -> Path:
        """Where sample ``index`` is (or will be) stored."""
        return self.folder / f"{int(index):06d}.npz"

    def _read(self, path: Path, index: int) -> Optional[Tuple[Any, Any]]:
        try:
            with np.load(path, allow_pickle=False) as z:
                if _MARKER not in z.files:
                    return None
                marker = json.loads(bytes(z[_MARKER]).decode())
                if marker.get("key") != self.key or marker.get("index") != index:
                    return None
                arrays = {k: z[k] for k in z.files if k != _MARKER}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError, UnicodeDecodeError):
            return None
        spec = marker["structure"]
        return _from_arrays(spec["data"], arrays), _from_arrays(spec["target"], arrays)

    def _write(self, path: Path, index: int, data: Any, target: Any) -> None:
        arrays: dict = {}
        spec = {"data": _to_arrays(data, "data", arrays), "target": _to_arrays(target, "target", arrays)}
        marker = json.dumps({"key": self.key, "index": index, "structure": spec}).encode()
        with atomic_output(path, force=True, suffix=".npz") as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for name, arr in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
                with zf.open(f"{_MARKER}.npy", "w") as f:  # written last: the completeness marker
                    np.lib.format.write_array(f, np.frombuffer(marker, dtype=np.uint8), allow_pickle=False)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        n = len(self.dataset)
        i = int(index) + (n if int(index) < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"CachedDataset index {index} out of range (len {n})")
        path = self.entry_path(i)
        got = self._read(path, i) if path.is_file() else None
        if got is None:
            self.misses += 1
            data, target = self.dataset[i]
            self._write(path, i, data, target)
            got = self._read(path, i)
            if got is None:
                raise DatasetError(f"CachedDataset: {path} could not be read back right after writing it")
        else:
            self.hits += 1
        data, target = got
        if self.transform is not None:
            data = self.transform(data)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return data, target

    def __repr__(self) -> str:
        return f"CachedDataset({self.dataset!r}, folder={str(self.folder)!r})"
