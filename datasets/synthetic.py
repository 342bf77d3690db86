"""SyntheticGestures: a built-in, download-free gesture set whose classes differ only in motion.

Every sample is one or two discs (same random size, contrast and sign distribution in every class)
moving in front of a static, slightly shaded background, seen through a simulated DVS (see
:mod:`eventar.datasets._simulator`).  What changes between classes is only how the discs move:

====  =====================  ====================================================================
id    name                   motion
====  =====================  ====================================================================
0     rotate_cw              one disc orbiting a centre clockwise (as seen on screen, y down)
1     rotate_ccw             the same, counter-clockwise (the time reverse of 0)
2     swipe_left             one disc crossing the sensor from right to left
3     swipe_right            left to right (time reverse of 2)
4     swipe_up               bottom to top
5     swipe_down             top to bottom (time reverse of 4)
6     wave_horizontal        one disc oscillating left-right (2.5–4 Hz)
7     wave_vertical          one disc oscillating up-down (2.5–4 Hz)
8     clap                   two discs meeting and parting horizontally (2–3.5 Hz)
9     zoom_in                one disc growing (approaching the camera)
10    zoom_out               one disc shrinking (time reverse of 9)
====  =====================  ====================================================================

The pairs (0, 1), (2, 3), (4, 5) and (9, 10) are time reverses of each other: an image that
collapses time cannot tell them apart.  Per sample, position, size, speed, duration (0.5–1.0 s),
contrast, thresholds, noise and hot pixels are random.  Samples are generated lazily,
deterministically from ``(seed, split, index)``, and cached as ``.npy`` files under ``root``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import numpy as np

from eventar.errors import DatasetError
from eventar.events import EVENT_DTYPE
from eventar.io.atomic import atomic_output

from ._base import EventDataset, default_root, user_path
from ._simulator import noise_events, simulate_events

CLASSES = [
    "rotate_cw",
    "rotate_ccw",
    "swipe_left",
    "swipe_right",
    "swipe_up",
    "swipe_down",
    "wave_horizontal",
    "wave_vertical",
    "clap",
    "zoom_in",
    "zoom_out",
]
"""Class names of :class:`SyntheticGestures`; the index is the label."""

TIME_REVERSED_PAIRS = [(0, 1), (2, 3), (4, 5), (9, 10)]
"""Label pairs whose motions are each other's time reverse."""

_SPLIT_IDS = {"train": 0, "test": 1}
_DEFAULT_N_PER_CLASS = {"train": 100, "test": 25}
_W = _H = 128


def _orbit(rng, direction: float):
    cx, cy = 64 + rng.uniform(-12, 12, 2)
    radius = rng.uniform(18, 34)
    freq = rng.uniform(1.5, 3.0)
    phase = rng.uniform(0, 2 * np.pi)

    def path(t):
        a = phase + direction * 2 * np.pi * freq * t
        return [(cx + radius * np.cos(a), cy + radius * np.sin(a), None)]

    return path


def _swipe(rng, axis: int, sign: float, r: float, duration: float):
    across = rng.uniform(30, 98)
    start = rng.uniform(-r, 24)
    end = rng.uniform(104, 128 + r)
    if sign < 0:
        start, end = 128 - start, 128 - end
    wobble = rng.uniform(-8, 8)

    def path(t):
        u = t / duration
        along = start + (end - start) * u
        side = across + wobble * u
        return [(along, side, None) if axis == 0 else (side, along, None)]

    return path


def _wave(rng, axis: int):
    cx, cy = rng.uniform(40, 88, 2)
    amp = rng.uniform(14, 28)
    freq = rng.uniform(2.5, 4.0)
    phase = rng.uniform(0, 2 * np.pi)

    def path(t):
        d = amp * np.sin(phase + 2 * np.pi * freq * t)
        return [(cx + d, np.full_like(t, cy), None) if axis == 0 else (np.full_like(t, cx), cy + d, None)]

    return path


def _clap(rng, r: float):
    cx, cy = rng.uniform(44, 84, 2)
    gap = rng.uniform(0.5, 2.0)
    amp = rng.uniform(12, 24)
    freq = rng.uniform(2.0, 3.5)
    phase = rng.uniform(0, 2 * np.pi)

    def path(t):
        half = r + gap + amp * 0.5 * (1 - np.cos(phase + 2 * np.pi * freq * t))
        ycol = np.full_like(t, cy)
        return [(cx - half, ycol, None), (cx + half, ycol, None)]

    return path


def _zoom(rng, growing: bool, duration: float):
    cx, cy = rng.uniform(44, 84, 2)
    r_small = rng.uniform(4, 8)
    r_big = rng.uniform(26, 38)
    if not growing:
        r_small, r_big = r_big, r_small

    def path(t):
        u = t / duration
        rad = r_small * (r_big / r_small) ** u
        return [(np.full_like(t, cx), np.full_like(t, cy), rad)]

    return path


def _trajectory(label: int, rng: np.random.Generator, r: float, duration: float) -> Callable:
    if label == 0:
        return _orbit(rng, +1.0)
    if label == 1:
        return _orbit(rng, -1.0)
    if label in (2, 3):
        return _swipe(rng, 0, -1.0 if label == 2 else 1.0, r, duration)
    if label in (4, 5):
        return _swipe(rng, 1, -1.0 if label == 4 else 1.0, r, duration)
    if label in (6, 7):
        return _wave(rng, 0 if label == 6 else 1)
    if label == 8:
        return _clap(rng, r)
    if label in (9, 10):
        return _zoom(rng, label == 9, duration)
    raise DatasetError(f"SyntheticGestures: label {label} is not one of 0..{len(CLASSES) - 1}")


def _objects(path: Callable, t_s: np.ndarray, r: float, contrast: float) -> np.ndarray:
    """(n_obj, K, 4) array of cx, cy, radius, contrast at times ``t_s`` (seconds)."""
    parts = path(t_s)
    objs = np.empty((len(parts), t_s.shape[0], 4))
    for o, (x, y, rad) in enumerate(parts):
        objs[o, :, 0] = x
        objs[o, :, 1] = y
        objs[o, :, 2] = r if rad is None else rad
        objs[o, :, 3] = contrast
    return objs


def generate_sample(label: int, rng: np.random.Generator, *, noise: bool = True) -> np.ndarray:
    """Simulate one recording of class ``label``.

    Args:
        label: class index into :data:`CLASSES`.
        rng: numpy generator; the sample is a pure function of its state.
        noise: add background activity and hot pixels.
    Returns:
        (N,) :data:`~eventar.events.EVENT_DTYPE` events on a 128×128 sensor, t in µs from 0,
        sorted by t; the recording lasts 0.5–1.0 s.
    """
    duration = rng.uniform(0.5, 1.0)
    r = rng.uniform(6, 11)
    contrast = rng.uniform(0.5, 0.9) * rng.choice([-1.0, 1.0])
    threshold = rng.uniform(0.2, 0.3)
    mismatch = rng.uniform(0.03, 0.08)
    refractory_us = rng.uniform(100, 1000)
    path = _trajectory(label, rng, r, duration)

    # Background: a gentle linear shading so that the static scene is not perfectly flat.
    gx, gy = rng.uniform(-0.3, 0.3, 2)
    yy, xx = np.mgrid[0:_H, 0:_W] / 127.0
    bg = gx * xx + gy * yy
    thr_on = threshold * np.clip(1 + mismatch * rng.standard_normal((_H, _W)), 0.5, 1.5)
    thr_off = threshold * np.clip(1 + mismatch * rng.standard_normal((_H, _W)), 0.5, 1.5)

    # Pick the step count so that no disc edge moves more than ~0.5 px per step.
    probe_t = np.linspace(0.0, duration, 257)
    probe = _objects(path, probe_t, r, contrast)
    step_px = np.abs(np.diff(probe[:, :, :3], axis=1)).max() if probe.shape[1] > 1 else 0.0
    n_steps = int(np.clip(math.ceil(256 * step_px / 0.5), 64, 4096))
    t_s = np.linspace(0.0, duration, n_steps + 1)
    objs = _objects(path, t_s, r, contrast)
    duration_us = int(round(duration * 1e6))
    events = simulate_events(objs, t_s * 1e6, bg, thr_on, thr_off, refractory_us=refractory_us)
    if noise:
        extra = noise_events(
            rng,
            (_W, _H),
            duration_us,
            rate_hz_per_px=rng.uniform(0.01, 0.1),
            hot_pixels=int(rng.integers(0, 3)),
            hot_rate_hz=(20.0, 100.0),
        )
        events = np.concatenate([events, extra])
    order = np.argsort(events["t"], kind="stable")
    return events[order]


class SyntheticGestures(EventDataset):
    """Built-in gesture set: 11 classes on a simulated 128×128 DVS that differ only in motion.

    Sample ``i`` has label ``i % 11`` (exactly balanced) and is generated from
    ``numpy.random.default_rng([seed, split_id, i])``, so it is identical on every machine and
    independent of the order of access.  Generated samples are cached under
    ``<root>/SyntheticGestures/v<version>/<split>_seed<seed>/`` (written atomically).

    Args:
        root: cache folder; None → ``$EVENTAR_CACHE`` or ``~/.cache/eventar``.
        split: ``"train"`` or ``"test"`` (different random streams, same distribution).
        n_per_class: samples per class (default 100 for train, 25 for test).
        seed: dataset seed.
        transform, target_transform, transforms: tonic-style callables (see :class:`EventDataset`).
        cache: write / read generated samples on disk (False: generate every time).
        noise: add background activity and hot pixels.

    ``__getitem__(i) -> (events (N,) EVENT_DTYPE with t in µs, label int)``.
    """

    sensor_size = (_W, _H, 2)
    classes = list(CLASSES)
    name = "SyntheticGestures"
    version = "2"  # v2: background activity 0.01-0.1 Hz/px, 0-2 hot pixels at 20-100 Hz (v1: 0.05-0.5, 0-3 at 50-300)

    def __init__(
        self,
        root: "str | Path | None" = None,
        split: str = "train",
        n_per_class: Optional[int] = None,
        seed: int = 0,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        transforms: Optional[Callable] = None,
        cache: bool = True,
        noise: bool = True,
    ):
        super().__init__(transform, target_transform, transforms)
        if split not in _SPLIT_IDS:
            raise DatasetError(f"SyntheticGestures: split must be 'train' or 'test', got {split!r}")
        if n_per_class is None:
            n_per_class = _DEFAULT_N_PER_CLASS[split]
        if int(n_per_class) < 1:
            raise DatasetError(f"SyntheticGestures: n_per_class must be >= 1, got {n_per_class}")
        if int(seed) < 0:
            raise DatasetError(f"SyntheticGestures: seed must be a non-negative integer, got {seed}")
        self.split = split
        self.n_per_class = int(n_per_class)
        self.seed = int(seed)
        self.noise = bool(noise)
        self.cache = bool(cache)
        self.root = user_path(root) if root is not None else default_root()
        tag = f"{split}_seed{self.seed}" + ("" if self.noise else "_nonoise")
        self.folder = self.root / self.name / f"v{self.version}" / tag
        self._warned = False

    def __len__(self) -> int:
        return self.n_per_class * len(CLASSES)

    def target_of(self, index: int) -> int:
        """Label of sample ``index`` (``index % 11``)."""
        return self._index(index) % len(CLASSES)

    def cache_params(self) -> dict:
        return {"name": self.name, "version": self.version, "split": self.split, "seed": self.seed, "noise": self.noise}

    def generate(self, index: int) -> Tuple[np.ndarray, int]:
        """Simulate sample ``index`` (no disk access): ``(events, label)``."""
        i = self._index(index)
        label = i % len(CLASSES)
        rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], i])
        return generate_sample(label, rng, noise=self.noise), label

    def _load(self, index: int) -> Tuple[np.ndarray, Any]:
        if not self.cache:
            return self.generate(index)
        path = self.folder / f"{index:06d}.npy"
        if path.is_file():
            try:
                events = np.load(path, allow_pickle=False)
                if events.dtype == EVENT_DTYPE and events.ndim == 1:
                    return events, index % len(CLASSES)
            except (ValueError, OSError, EOFError):
                pass  # unreadable entry: regenerate and replace it below
        events, label = self.generate(index)
        try:
            with atomic_output(path, force=True, suffix=".npy") as tmp:
                np.save(tmp, events, allow_pickle=False)
        except OSError as e:  # read-only or full cache folder: keep working without the cache
            if not self._warned:
                warnings.warn(f"SyntheticGestures: cannot write the cache under {self.folder} ({e}); generating without caching", stacklevel=3)
                self._warned = True
        return events, label
