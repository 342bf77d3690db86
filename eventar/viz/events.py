"""Pictures of recordings: a grid of time slices with an event-rate strip, and animations.

>>> fig = plot_events("user01_fluorescent.aedat", slices=6)
>>> save_animation(rec, "gesture.gif", window_us=20_000, speed=0.5)

ON events are red, OFF events blue (:mod:`eventar.viz._style`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import EventarError
from ..events import Recording, as_events
from ..io.atomic import atomic_output
from ._style import OFF_RGB, ON_RGB, counts_to_rgb, pyplot

Source = Union[Recording, np.ndarray, "os.PathLike[str]", str]


def as_recording(source: Source, sensor_size: Optional[Sequence[int]] = None) -> Recording:
    """A :class:`Recording` from a recording, a path (read with :func:`eventar.io.read_events`) or
    an event array (tonic or eventar dtype) with ``sensor_size`` (W, H[, P]; inferred as max + 1
    when omitted).

    Raises:
        EventarError: the recording has no events (nothing to show).
    """
    if isinstance(source, (str, os.PathLike)):
        from ..io import read_events

        rec = read_events(source)
        name = os.fspath(source)
    elif isinstance(source, Recording):
        rec, name = source, source.meta.get("source_file", "recording") if source.meta else "recording"
    else:
        ev = as_events(np.asarray(source))
        if sensor_size is None:
            if ev.size == 0:
                raise EventarError("the event array is empty: nothing to show")
            sensor_size = (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1)
        rec, name = Recording(ev, int(sensor_size[0]), int(sensor_size[1]), format="array"), "events"
    if len(rec) == 0:
        raise EventarError(f"{name}: the recording has no events: nothing to show")
    return rec


def slice_frames(rec: Recording, *, n_slices: Optional[int] = None, window_us: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-slice ON/OFF counts and slice start times.

    Exactly one of ``n_slices`` (equal-duration slices covering the recording, last event
    included) or ``window_us`` (consecutive windows of that length, the last one partial).

    Returns:
        (frames (S, 2, H, W) counts, starts (S,) slice start times in µs relative to the first event).
    """
    from ..transforms import ToFrame

    ev = rec.events
    t0 = int(ev["t"][0])
    shifted = ev.copy()
    shifted["t"] -= t0
    if (n_slices is None) == (window_us is None):
        raise EventarError("give exactly one of n_slices or window_us")
    if n_slices is not None:
        tf = ToFrame(sensor_size=rec.sensor_size, n_time_bins=int(n_slices), include_last=True)
        span = int(shifted["t"][-1])
        starts = np.arange(int(n_slices)) * (span / int(n_slices))
    else:
        # Windows [k·w, (k+1)·w) for k = 0 … span // w: ending the slicing at n·w keeps the last
        # event (tonic's time_window slicing would stop at the last event's time and drop it).
        n = int(shifted["t"][-1]) // int(window_us) + 1
        tf = ToFrame(sensor_size=rec.sensor_size, time_window=int(window_us), start_time=0, end_time=n * int(window_us))
        starts = np.arange(n) * float(window_us)
    return np.asarray(tf(shifted)), starts


def event_rate(rec: Recording, bin_us: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event rate over time.

    Args:
        bin_us: bin width in µs (default: span / 200, at least 1 µs).
    Returns:
        (bin centres in ms from the first event, ON rate, OFF rate), rates in events/s.
    """
    t = rec.events["t"] - rec.events["t"][0]
    span = int(t[-1]) + 1
    bin_us = int(bin_us or max(1, span // 200))
    n_bins = max(1, -(-span // bin_us))
    on = np.bincount(t[rec.events["p"] == 1] // bin_us, minlength=n_bins)[:n_bins]
    off = np.bincount(t[rec.events["p"] == 0] // bin_us, minlength=n_bins)[:n_bins]
    centres = (np.arange(n_bins) + 0.5) * bin_us / 1000.0
    return centres, on * (1e6 / bin_us), off * (1e6 / bin_us)


def plot_rate(ax, rec: Recording, bin_us: Optional[int] = None) -> None:
    """Draw the ON and OFF event-rate strip of ``rec`` on a matplotlib axis."""
    centres, on, off = event_rate(rec, bin_us)
    ax.plot(centres, on, color=ON_RGB / 255, lw=1, label="ON")
    ax.plot(centres, off, color=OFF_RGB / 255, lw=1, label="OFF")
    ax.set_xlabel("time since first event (ms)")
    ax.set_ylabel("events/s")
    ax.set_xlim(0, centres[-1] + centres[0])
    ax.legend(loc="upper right", fontsize="small", frameon=False)


def plot_events(source: Source, *, slices: int = 6, sensor_size: Optional[Sequence[int]] = None, rate_bin_us: Optional[int] = None, title: Optional[str] = None):
    """A still: ``slices`` equal time slices (ON red, OFF blue) above an event-rate strip.

    Args:
        source: a Recording, a path, or an event array (with ``sensor_size`` (W, H)).
        slices: number of time slices S ≥ 1.
    Returns:
        the matplotlib Figure.
    """
    rec = as_recording(source, sensor_size)
    frames, starts = slice_frames(rec, n_slices=slices)
    plt = pyplot()
    cols = int(slices)
    fig = plt.figure(figsize=(2.2 * cols, 2.2 * rec.height / rec.width + 1.8), constrained_layout=True)
    grid = fig.add_gridspec(2, cols, height_ratios=[rec.height / rec.width * 2.2, 1.4])
    span_ms = (rec.events["t"][-1] - rec.events["t"][0]) / 1000.0
    for i in range(cols):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(counts_to_rgb(frames[i, 1], frames[i, 0]), interpolation="nearest")
        ax.set_title(f"{starts[i] / 1000:.0f}–{(starts[i] / 1000 + span_ms / cols):.0f} ms", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    plot_rate(fig.add_subplot(grid[1, :]), rec, rate_bin_us)
    fig.suptitle(title or f"{len(rec):,} events, {rec.width}×{rec.height}, {rec.format or 'events'}", fontsize="medium")
    return fig


def animation_frames(source: Source, *, window_us: int = 20_000, scale: int = 2, sensor_size: Optional[Sequence[int]] = None, max_frames: int = 2000) -> Tuple[np.ndarray, np.ndarray]:
    """RGB frames of consecutive ``window_us`` windows with a timestamp overlay.

    Returns:
        (frames (F, H·scale, W·scale, 3) uint8, starts (F,) window starts in µs from the first event).
    Raises:
        EventarError: more than ``max_frames`` frames would be made (choose a longer window).
    """
    from PIL import Image, ImageDraw

    rec = as_recording(source, sensor_size)
    span = int(rec.events["t"][-1] - rec.events["t"][0])
    n = span // int(window_us) + 1
    if n > max_frames:
        raise EventarError(f"{n} frames of {window_us} µs for a {span} µs recording exceeds max_frames={max_frames}; use a longer window")
    counts, starts = slice_frames(rec, window_us=window_us)
    out = []
    for i in range(counts.shape[0]):
        img = Image.fromarray(counts_to_rgb(counts[i, 1], counts[i, 0]))
        if scale != 1:
            img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        ImageDraw.Draw(img).text((3, 2), f"t = {starts[i] / 1000:.1f} ms", fill=(0, 0, 0))
        out.append(np.asarray(img))
    return np.stack(out), starts


def save_animation(source: Source, path: "os.PathLike[str] | str", *, window_us: int = 20_000, speed: float = 1.0, scale: int = 2,
                   sensor_size: Optional[Sequence[int]] = None, force: bool = True) -> int:
    """Write an animation of accumulated frames: ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg).

    Args:
        window_us: events accumulated per frame (µs).
        speed: playback speed; 1.0 shows the recording in real time (frame duration = window),
            0.1 ten times slower.
        scale: integer up-scaling of the pixels.
    Returns:
        the number of frames written.
    Raises:
        EventarError: unknown extension, or MP4 without an ffmpeg on PATH.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".gif", ".mp4"):
        raise EventarError(f"{path}: animations are written as .gif or .mp4, not '{ext}'")
    ffmpeg = shutil.which("ffmpeg")
    if ext == ".mp4" and ffmpeg is None:
        raise EventarError(f"{path}: writing MP4 needs an ffmpeg executable on PATH (e.g. apt-get install ffmpeg); write a .gif instead")
    frames, _ = animation_frames(source, window_us=window_us, scale=scale, sensor_size=sensor_size)
    duration_ms = max(20, int(round(window_us / 1000.0 / speed)))
    with atomic_output(path, force=force, suffix=ext) as tmp:
        if ext == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0, disposal=1)
        else:
            h, w = frames.shape[1:3]
            fps = 1000.0 / duration_ms
            cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:.4f}",
                   "-i", "-", "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-f", "mp4", str(tmp)]
            proc = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)
            if proc.returncode != 0:
                raise EventarError(f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return int(frames.shape[0])
