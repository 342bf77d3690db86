"""Frame-clip inputs for frame-based models (SpikMamba): each recording -> one clip of T frames.

``count_frames``: events split into ``frames`` equal time bins over the recording by eventar's frame
kernel (tonic's ``ToFrame(n_time_bins=T)`` edges: bin k covers [t0 + k·Δ, t0 + (k+1)·Δ),
Δ = (t_last − t0) // T, with ``include_last=True`` so the last bin runs to the last event), per-bin ON/OFF counts summed over ``downsample`` ×
``downsample`` pixel blocks, optionally ``log1p``-compressed.  Sample: (T, 2, H/ds, W/ds) float32;
the model gets x: (B, T, 2, H/ds, W/ds).  Training augmentation: a horizontal flip of the whole
clip with probability ``flip_p`` (default 0: the official SpikMamba recipe's RandomHorizontalFlip
would swap mirror-image classes such as left/right-hand gestures).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import ConfigError
from ..kernels import to_frame
from .inputs import InputSpec, register_input


def count_frame_clip(events: np.ndarray, sensor_size: Tuple[int, int, int], frames: int,
                     downsample: int = 1, log1p: bool = False) -> np.ndarray:
    """Events (EVENT_DTYPE: t µs, x, y, p) -> (frames, 2, H // ds, W // ds) float32 counts.

    The frames are :func:`eventar.kernels.to_frame` with ``n_time_bins=frames`` and
    ``include_last=True`` (tonic's bin edges, with no event dropped) on the ``ds`` × ``ds`` block
    grid; pixels beyond the last whole block (W or H not a multiple of ds) are left out, and the bins
    span the events that remain.  Channel 0 counts OFF (p = 0), channel 1 ON events.  An empty
    recording gives zeros.
    """
    w, h = int(sensor_size[0]), int(sensor_size[1])
    ds = int(downsample)
    hh, ww = h // ds, w // ds
    x = events["x"] // ds
    y = events["y"] // ds
    keep = (x < ww) & (y < hh)
    t, p = events["t"], events["p"]
    if not keep.all():
        t, x, y, p = t[keep], x[keep], y[keep], p[keep]
    if len(t) == 0:
        return np.zeros((frames, 2, hh, ww), dtype=np.float32)
    out = to_frame(t, x, y, p, (ww, hh, 2), n_time_bins=frames, include_last=True).astype(np.float32)
    return np.log1p(out) if log1p else out


@register_input("count_frames")
def count_frames(frames: int = 8, downsample: int = 4, log1p: bool = False, flip_p: float = 0.0) -> InputSpec:
    """One clip of ``frames`` event-count frames per recording (module docstring)."""
    if int(frames) < 1 or int(downsample) < 1:
        raise ConfigError(f"count_frames: frames={frames} and downsample={downsample} must be >= 1")
    if not 0.0 <= float(flip_p) <= 1.0:
        raise ConfigError(f"count_frames: flip_p={flip_p} must be in [0, 1]")
    frames, downsample, flip_p = int(frames), int(downsample), float(flip_p)

    def prepare(events: np.ndarray, sensor_size: Tuple[int, int, int]) -> np.ndarray:
        return count_frame_clip(events, sensor_size, frames, downsample, bool(log1p))[None]

    def augment(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.ascontiguousarray(clip[..., ::-1]) if rng.random() < flip_p else clip

    key = f"count_frames:v2:frames={frames},downsample={downsample},log1p={bool(log1p)}"
    return InputSpec(prepare=prepare, cache_key=key, augment=augment if flip_p > 0 else None)


@register_input("afe_frames")
def afe_frames(frames: int = 8, preset: str = "dvsgesture", mode: str = "gray", size: int = 128,
               threshold: Optional[float] = None, min_events: Optional[int] = None,
               flip_p: float = 0.0) -> InputSpec:
    """One clip of ``frames`` AFE frames per recording (ExACT / SpikMamba's representation,
    :class:`eventar.transforms.ToAFEFrames` with ``preset`` thresholds), resized to ``size`` ×
    ``size``, scaled uint8 / 255 to [0, 1] as the official code does.  Sample: (T, C, size, size)
    float32 with C = 1 (``mode="gray"``) or 3 (``"rgb"``); ``flip_p`` as in ``count_frames``."""
    from ..transforms import ToAFEFrames

    if int(frames) < 1 or int(size) < 1:
        raise ConfigError(f"afe_frames: frames={frames} and size={size} must be >= 1")
    if not 0.0 <= float(flip_p) <= 1.0:
        raise ConfigError(f"afe_frames: flip_p={flip_p} must be in [0, 1]")
    args = dict(preset=str(preset), threshold=threshold, min_events=min_events, n_frames=int(frames),
                mode=str(mode), out_size=(int(size), int(size)))
    flip_p = float(flip_p)

    def prepare(events: np.ndarray, sensor_size: Tuple[int, int, int]) -> np.ndarray:
        clip = ToAFEFrames(sensor_size=tuple(int(s) for s in sensor_size), **args)(events)
        return (np.asarray(clip, dtype=np.float32) / 255.0)[None]

    def augment(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.ascontiguousarray(clip[..., ::-1]) if rng.random() < flip_p else clip

    key = "afe_frames:v1:" + ",".join(f"{k}={v}" for k, v in sorted(args.items()))
    return InputSpec(prepare=prepare, cache_key=key, augment=augment if flip_p > 0 else None)
