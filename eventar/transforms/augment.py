"""EventTransAct's event-drop augmentations on frame clips (arXiv 2308.13711 and its official code).

Every transform takes a clip ``(T, C, H, W)`` of event-count frames (channels (ON, OFF, 0) for
DVS data) and returns a new array; the input is never modified.  Randomness comes from a numpy
``Generator`` passed at call time (``rng``), or one seeded from the transform's ``seed``.

=================  ==========================================================================
transform          effect
=================  ==========================================================================
``ValueDrop``      zero pixels whose value is below ``threshold``
``RandomDrop``     zero non-zero pixels where a uniform mask ``M (C, H, W)`` is below ρ
``TemporalDrop``   zero pixels where ``M < τ_f``, τ_f ramping linearly 0 → ``max_ratio`` over
                   the frames (or the reverse ramp)
``RectangleDrop``  zero one or more random rectangles in all channels and frames
``PolarityDrop``   zero the ON or the OFF channel
``EventDrop``      the original loader's per-clip dispatcher with presets ``"dvs"`` (only
                   ``rand`` enabled, as in every DVS config) and ``"nek"`` (N-EPIC-Kitchens)
=================  ==========================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

ON, OFF = 0, 1  # channel order of eventar's frames: (ON, OFF[, 0])


def _rng(rng: Optional[np.random.Generator], seed: Optional[int]) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(seed)


def _check_clip(clip: np.ndarray) -> np.ndarray:
    clip = np.asarray(clip)
    if clip.ndim != 4:
        raise ValueError(f"expected a clip of shape (T, C, H, W), got {clip.shape}")
    return clip


@dataclasses.dataclass(frozen=True)
class ValueDrop:
    """Zero every pixel whose value is below ``threshold`` (1.0: removes interpolation fringe)."""

    threshold: float = 1.0

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        return np.where(clip < self.threshold, 0, clip).astype(clip.dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class RandomDrop:
    """Zero non-zero pixels where ``M < ρ``; ``M ~ U[0,1)`` of shape (C, H, W) shared by all frames.

    ρ is drawn from ``{0, step, 2·step, …, max_ratio}`` (0.15 in steps of 0.01 in the original) unless
    ``ratio`` fixes it.
    """

    max_ratio: float = 0.15
    step: float = 0.01
    ratio: Optional[float] = None
    seed: Optional[int] = None

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        g = _rng(rng, self.seed)
        rho = self.ratio if self.ratio is not None else float(g.choice(np.arange(0.0, self.max_ratio + 1e-9, self.step)))
        mask = g.random(clip.shape[1:]) < rho
        return np.where(mask[None] & (clip != 0), 0, clip).astype(clip.dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class TemporalDrop:
    """Zero pixels where ``M < τ_f``, τ_f = linspace(0, max_ratio, T) (``reverse``: T-1 → 0).

    ``reverse=None`` picks the direction at random (probability ½), as the original does.
    """

    max_ratio: float = 0.35
    reverse: Optional[bool] = None
    seed: Optional[int] = None

    def ramp(self, n_frames: int, reverse: bool) -> np.ndarray:
        """τ per frame: (T,) from 0 to ``max_ratio`` (or reversed)."""
        tau = np.linspace(0.0, self.max_ratio, n_frames)
        return tau[::-1] if reverse else tau

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        g = _rng(rng, self.seed)
        reverse = bool(g.random() <= 0.5) if self.reverse is None else self.reverse
        mask = g.random(clip.shape[1:])[None] < self.ramp(clip.shape[0], reverse)[:, None, None, None]
        return np.where(mask, 0, clip).astype(clip.dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class RectangleDrop:
    """Zero ``n`` random rectangles (all channels, all frames) with sides in [min_frac, max_frac]·side."""

    n: int = 1
    min_frac: Tuple[float, float] = (1 / 6, 1 / 6)  # (height, width) fractions
    max_frac: Tuple[float, float] = (1 / 5, 1 / 5)
    seed: Optional[int] = None

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        g = _rng(rng, self.seed)
        out = clip.copy()
        h, w = clip.shape[-2:]
        for _ in range(self.n):
            rh = max(1, int(g.uniform(self.min_frac[0], self.max_frac[0]) * h))
            rw = max(1, int(g.uniform(self.min_frac[1], self.max_frac[1]) * w))
            y0, x0 = int(g.integers(0, h - rh + 1)), int(g.integers(0, w - rw + 1))
            out[..., y0 : y0 + rh, x0 : x0 + rw] = 0
        return out


@dataclasses.dataclass(frozen=True)
class PolarityDrop:
    """Zero one polarity channel: ``channel`` 0 (ON) or 1 (OFF), or None to pick at random."""

    channel: Optional[int] = None
    seed: Optional[int] = None

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        ch = int(_rng(rng, self.seed).integers(0, 2)) if self.channel is None else self.channel
        out = clip.copy()
        out[:, ch] = 0
        return out


_PRESETS = {
    # The DVS loader: p = 0.5 per clip, then r ~ U[0,1)^10 selects the families; DVS configs enable "rand" only.
    "dvs": dict(p=0.5, enabled=("rand",), value_threshold=1.0, rand_max=0.15, time_max=0.35, rect_frac=((1 / 6, 1 / 6), (1 / 5, 1 / 5)), rect_p=0.25, pol_p=0.25),
    # N-EPIC-Kitchens: all five families; rectangles H/6..H/3 × W/6..W/3 with p 0.4 each, polarity p 0.2.
    "nek": dict(p=0.5, enabled=("val", "rand", "time", "rect", "pol"), value_threshold=1.0, rand_max=0.15, time_max=0.07 * 9,
                rect_frac=((1 / 6, 1 / 6), (1 / 3, 1 / 3)), rect_p=0.4, pol_p=0.2),
}


@dataclasses.dataclass(frozen=True)
class EventDrop:
    """The original per-clip event-drop dispatcher.

    With probability ``p`` the clip is augmented; then ``r ~ U[0,1)^10`` chooses, as in the DVS
    loader: value drop if r1 > 0.8; random drop if 0.6 < r3 ≤ 0.8; temporal drop if 0.4 < r3 < 0.6
    (reversed ramp if r8 ≤ 0.5); a rectangle for each of r4, r5 above 1 − ``rect_p``; polarity drop if
    r6 > 1 − ``pol_p`` (ON if r7 > 0.5).  Only the families in ``enabled`` apply.

    Args:
        preset: ``"dvs"`` (only ``rand``, the setting of every DVS config) or ``"nek"``.
        enabled: override the preset's families (subset of val, rand, time, rect, pol).
    """

    preset: str = "dvs"
    enabled: Optional[Tuple[str, ...]] = None
    seed: Optional[int] = None

    def __post_init__(self):
        if self.preset not in _PRESETS:
            raise ValueError(f"unknown EventDrop preset {self.preset!r}; choose from {sorted(_PRESETS)}")
        bad = set(self.enabled or ()) - {"val", "rand", "time", "rect", "pol"}
        if bad:
            raise ValueError(f"unknown event-drop families {sorted(bad)}")

    def __call__(self, clip: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        clip = _check_clip(clip)
        g = _rng(rng, self.seed)
        cfg = _PRESETS[self.preset]
        enabled = set(self.enabled if self.enabled is not None else cfg["enabled"])
        if g.random() >= cfg["p"]:
            return clip.copy()
        r = g.random(10)
        out = clip
        if "val" in enabled and r[1] > 0.8:
            out = ValueDrop(cfg["value_threshold"])(out)
        if "rand" in enabled and 0.6 < r[3] <= 0.8:
            out = RandomDrop(cfg["rand_max"])(out, g)
        if "time" in enabled and 0.4 < r[3] < 0.6:
            out = TemporalDrop(cfg["time_max"], reverse=bool(r[8] <= 0.5))(out, g)
        if "rect" in enabled:
            n = int(r[4] > 1 - cfg["rect_p"]) + int(r[5] > 1 - cfg["rect_p"])
            if n:
                lo, hi = cfg["rect_frac"]
                out = RectangleDrop(n, lo, hi)(out, g)
        if "pol" in enabled and r[6] > 1 - cfg["pol_p"]:
            out = PolarityDrop(ON if r[7] > 0.5 else OFF)(out)
        return out if out is not clip else clip.copy()
