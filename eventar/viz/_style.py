"""Colours and the lazy, headless matplotlib import shared by the plotting modules."""

from __future__ import annotations

import numpy as np

ON_RGB = np.array([214, 39, 40], dtype=np.uint8)  # red: brightness went up
OFF_RGB = np.array([31, 119, 180], dtype=np.uint8)  # blue: brightness went down
BACKGROUND_RGB = np.array([255, 255, 255], dtype=np.uint8)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); imported on first use."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def counts_to_rgb(on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Colour a pair of count images: ON-dominated pixels red, OFF-dominated blue, none white.

    Args:
        on, off: (..., H, W) event counts per pixel.
    Returns:
        (..., H, W, 3) uint8 image; colour intensity grows with the count (saturating at the
        98th percentile of non-zero counts so a few hot pixels do not wash the picture out).
    """
    on = np.asarray(on, dtype=np.float32)
    off = np.asarray(off, dtype=np.float32)
    total = on + off
    nz = total[total > 0]
    scale = float(np.percentile(nz, 98)) if nz.size else 1.0
    strength = np.clip(total / max(scale, 1.0), 0.0, 1.0)[..., None]
    strength = np.where(total[..., None] > 0, 0.35 + 0.65 * strength, 0.0)
    colour = np.where((on >= off)[..., None], ON_RGB, OFF_RGB).astype(np.float32)
    rgb = BACKGROUND_RGB * (1 - strength) + colour * strength
    return np.round(rgb).astype(np.uint8)
