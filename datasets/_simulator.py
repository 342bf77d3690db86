"""A small event-camera simulator: moving discs in front of a static background → DVS events.

The scene is described analytically (no frame buffer is ever stored): the log intensity of pixel
``(x, y)`` at simulation step ``k`` is

    L(x, y, k) = bg[y, x] + Σ_o  c_o · m(r_o(k) − ‖(x, y) − (cx_o(k), cy_o(k))‖)

where ``m`` is a linear ramp of width ``edge_px`` (an anti-aliased disc edge) and ``c_o`` is the
object's log contrast (positive = brighter than the background).  Each pixel runs the usual DVS
model (as in ESIM / v2e): it keeps a reference level and emits an ON (OFF) event every time the log
intensity rises (falls) by its own contrast threshold, with the crossing time interpolated
linearly inside the simulation step, and drops events that fall inside its refractory period.
Only pixels inside the bounding box of all object trajectories are simulated; background noise
and hot pixels are added afterwards.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
from numba import njit

from eventar.events import EVENT_DTYPE


@njit(cache=True, nogil=True)
def _dvs_pixels(objs, times_us, bg, thr_on, thr_off, x0, x1, y0, y1, refractory_us, edge_px, out_t, out_x, out_y, out_p):
    """Run the DVS pixel model on pixels ``[x0, x1) × [y0, y1)``.

    Args:
        objs: (n_obj, K, 4) float64, per object and step: cx, cy (pixels), radius (pixels), log contrast.
        times_us: (K,) float64 step times in µs, increasing.
        bg: (H, W) float64 background log intensity.
        thr_on, thr_off: (H, W) float64 per-pixel contrast thresholds (log units, > 0).
        refractory_us: events closer than this to the pixel's previous event are dropped.
        edge_px: width of the disc edge ramp in pixels.
        out_*: output buffers; only the first ``min(n, len(out_t))`` entries are written.
    Returns:
        n: number of events produced (may exceed the buffer: then call again with a bigger one).
    """
    n_obj = objs.shape[0]
    n_steps = times_us.shape[0]
    cap = out_t.shape[0]
    n = 0
    inv_edge = 1.0 / edge_px
    for y in range(y0, y1):
        for x in range(x0, x1):
            ton = thr_on[y, x]
            toff = thr_off[y, x]
            base = bg[y, x]
            prev = base
            for o in range(n_obj):
                dx = x - objs[o, 0, 0]
                dy = y - objs[o, 0, 1]
                m = (objs[o, 0, 2] - math.sqrt(dx * dx + dy * dy)) * inv_edge + 0.5
                m = 0.0 if m < 0.0 else (1.0 if m > 1.0 else m)
                prev += objs[o, 0, 3] * m
            ref = prev
            last = -1e18
            for k in range(1, n_steps):
                cur = base
                for o in range(n_obj):
                    dx = x - objs[o, k, 0]
                    dy = y - objs[o, k, 1]
                    m = (objs[o, k, 2] - math.sqrt(dx * dx + dy * dy)) * inv_edge + 0.5
                    m = 0.0 if m < 0.0 else (1.0 if m > 1.0 else m)
                    cur += objs[o, k, 3] * m
                if cur != prev:
                    t_a = times_us[k - 1]
                    span = times_us[k] - t_a
                    while cur - ref >= ton:
                        ref += ton
                        t = t_a + (ref - prev) / (cur - prev) * span
                        if t - last >= refractory_us:
                            if n < cap:
                                out_t[n] = t
                                out_x[n] = x
                                out_y[n] = y
                                out_p[n] = 1
                            n += 1
                            last = t
                    while ref - cur >= toff:
                        ref -= toff
                        t = t_a + (ref - prev) / (cur - prev) * span
                        if t - last >= refractory_us:
                            if n < cap:
                                out_t[n] = t
                                out_x[n] = x
                                out_y[n] = y
                                out_p[n] = 0
                            n += 1
                            last = t
                prev = cur
    return n


def simulate_events(
    objs: np.ndarray,
    times_us: np.ndarray,
    bg: np.ndarray,
    thr_on: np.ndarray,
    thr_off: np.ndarray,
    *,
    refractory_us: float,
    edge_px: float = 1.5,
) -> np.ndarray:
    """Events of moving discs seen by a DVS (no noise; see :func:`noise_events`).

    Args:
        objs: (n_obj, K, 4) per object and simulation step: cx, cy, radius (pixels; x right,
            y down, pixel centres at integers) and log contrast against the background.
        times_us: (K,) step times in µs (increasing); step size should keep every object's motion
            below ~1 pixel per step for smooth timestamps.
        bg: (H, W) background log intensity.
        thr_on, thr_off: (H, W) positive per-pixel contrast thresholds (log units).
        refractory_us: minimum time between two events of one pixel, µs.
        edge_px: width of the anti-aliased disc edge, pixels.
    Returns:
        (N,) :data:`~eventar.events.EVENT_DTYPE` events sorted by t (µs, floor of the
        interpolated crossing time).
    """
    objs = np.ascontiguousarray(objs, dtype=np.float64)
    times_us = np.ascontiguousarray(times_us, dtype=np.float64)
    h, w = bg.shape
    reach = objs[:, :, 2] + edge_px + 1.0
    x0 = int(max(0, math.floor(float((objs[:, :, 0] - reach).min()))))
    x1 = int(min(w, math.ceil(float((objs[:, :, 0] + reach).max())) + 1))
    y0 = int(max(0, math.floor(float((objs[:, :, 1] - reach).min()))))
    y1 = int(min(h, math.ceil(float((objs[:, :, 1] + reach).max())) + 1))
    if x1 <= x0 or y1 <= y0:
        return np.zeros(0, EVENT_DTYPE)
    args = (
        objs,
        times_us,
        np.ascontiguousarray(bg, dtype=np.float64),
        np.ascontiguousarray(thr_on, dtype=np.float64),
        np.ascontiguousarray(thr_off, dtype=np.float64),
        x0,
        x1,
        y0,
        y1,
        float(refractory_us),
        float(edge_px),
    )
    cap = 1 << 16
    while True:
        bt = np.empty(cap, np.float64)
        bx = np.empty(cap, np.uint16)
        by = np.empty(cap, np.uint16)
        bp = np.empty(cap, np.uint8)
        n = _dvs_pixels(*args, bt, bx, by, bp)
        if n <= cap:
            break
        cap = int(n)
    ev = np.empty(n, EVENT_DTYPE)
    ev["t"] = np.floor(bt[:n]).astype(np.int64)
    ev["x"] = bx[:n]
    ev["y"] = by[:n]
    ev["p"] = bp[:n]
    return ev


def noise_events(
    rng: np.random.Generator,
    sensor_wh: Tuple[int, int],
    duration_us: int,
    *,
    rate_hz_per_px: float,
    hot_pixels: int,
    hot_rate_hz: Tuple[float, float],
) -> np.ndarray:
    """Background activity (uniform Poisson, random polarity) plus a few hot pixels.

    Args:
        rng: numpy random generator (consumed).
        sensor_wh: (W, H) in pixels.
        duration_us: length of the recording in µs; event times are uniform in [0, duration_us).
        rate_hz_per_px: background-activity rate per pixel, Hz.
        hot_pixels: number of hot pixels.
        hot_rate_hz: (low, high) range their individual rates are drawn from, Hz.
    Returns:
        (N,) unsorted :data:`~eventar.events.EVENT_DTYPE` events.
    """
    w, h = int(sensor_wh[0]), int(sensor_wh[1])
    dur_s = duration_us * 1e-6
    n_bg = int(rng.poisson(rate_hz_per_px * w * h * dur_s))
    hx = rng.integers(0, w, hot_pixels)
    hy = rng.integers(0, h, hot_pixels)
    hr = rng.uniform(hot_rate_hz[0], hot_rate_hz[1], hot_pixels)
    n_hot = rng.poisson(hr * dur_s) if hot_pixels else np.zeros(0, np.int64)
    total = n_bg + int(n_hot.sum())
    ev = np.empty(total, EVENT_DTYPE)
    ev["t"] = rng.integers(0, max(int(duration_us), 1), total)
    ev["p"] = rng.integers(0, 2, total)
    ev["x"][:n_bg] = rng.integers(0, w, n_bg)
    ev["y"][:n_bg] = rng.integers(0, h, n_bg)
    ev["x"][n_bg:] = np.repeat(hx, n_hot)
    ev["y"][n_bg:] = np.repeat(hy, n_hot)
    return ev
