"""``eventar info PATH [--json]``: what a recording holds, streamed so any file size works.

Prints the format, sensor size, camera, event count, first/last t, span, event rate, ON share,
time offset and other streams (from the reader's ``meta``, e.g. AEDAT 4.0 frames/IMU/triggers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict

from ..io import iter_events, read_header

__all__ = ["recording_info", "register"]


def recording_info(path: "os.PathLike[str] | str", chunk_events: int = 1 << 20) -> Dict[str, Any]:
    """Summary of one recording, computed in one streaming pass (memory bounded by ``chunk_events``).

    Returns:
        dict with ``path``, ``size_bytes``, ``format``, ``source_format`` (HDF5 files: the original
        format, else None), ``sensor_size`` [W, H], ``camera``, ``n_events``, ``n_on``,
        ``t_first_us`` / ``t_last_us`` (recording clock; absolute = t + ``t_offset_us``),
        ``span_us``, ``rate_events_per_s`` (None when span is 0) and ``streams`` (or None).
    Raises:
        FormatError: the file is unreadable or corrupt.
    """
    path = Path(path)
    head = read_header(path)
    n = n_on = 0
    t_first = t_last = None
    for chunk in iter_events(path, chunk_events):
        if len(chunk) == 0:
            continue
        if t_first is None:
            t_first = int(chunk["t"][0])
        t_last = int(chunk["t"][-1])
        n += len(chunk)
        n_on += int(chunk["p"].sum())
    span = (t_last - t_first) if t_first is not None else 0
    meta = dict(head.meta)
    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "format": head.format,
        "source_format": meta.get("source_format"),
        "sensor_size": [int(head.width), int(head.height)],
        "camera": head.camera,
        "n_events": n,
        "n_on": n_on,
        "t_first_us": t_first,
        "t_last_us": t_last,
        "span_us": span,
        "rate_events_per_s": (n / (span * 1e-6)) if span > 0 else None,
        "t_offset_us": int(head.t_offset),
        "streams": meta.get("streams"),
    }


def _fmt_rate(r: Any) -> str:
    if r is None:
        return "-"
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= k:
            return f"{r / k:.3g} {unit}ev/s"
    return f"{r:.3g} ev/s"


def _fmt_span(us: int) -> str:
    if us >= 1_000_000:
        return f"{us / 1e6:.3f} s"
    if us >= 1000:
        return f"{us / 1e3:.3f} ms"
    return f"{us} µs"


def format_info(info: Dict[str, Any]) -> str:
    """Human-readable table of :func:`recording_info`'s dict."""
    fmt = info["format"] + (f" (from {info['source_format']})" if info.get("source_format") else "")
    w, h = info["sensor_size"]
    rows = [
        ("file", f"{info['path']}  ({info['size_bytes']:,} bytes)"),
        ("format", fmt),
        ("sensor", f"{w} x {h}"),
        ("camera", info["camera"] or "-"),
    ]
    n = info["n_events"]
    on = f"  (ON {100.0 * info['n_on'] / n:.1f} %)" if n else ""
    rows.append(("events", f"{n:,}{on}"))
    if info["t_first_us"] is not None:
        rows.append(("t", f"{info['t_first_us']:,} .. {info['t_last_us']:,} µs  (span {_fmt_span(info['span_us'])})"))
        rows.append(("rate", _fmt_rate(info["rate_events_per_s"])))
    if info["t_offset_us"]:
        rows.append(("t_offset", f"{info['t_offset_us']:,} µs (absolute time = t + t_offset)"))
    streams = info.get("streams")
    if streams:
        if isinstance(streams, dict):
            parts = []
            for sid, s in streams.items():
                desc = s.get("type", "?") if isinstance(s, dict) else str(s)
                if isinstance(s, dict) and "width" in s:
                    desc += f" {s['width']}x{s['height']}"
                parts.append(f"{sid}: {desc}")
            rows.append(("streams", ", ".join(parts)))
        else:
            rows.append(("streams", str(streams)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _run(args: argparse.Namespace) -> int:
    info = recording_info(args.path)
    text = json.dumps(info, indent=2, default=str) if args.json else format_info(info)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `eventar info x | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def register(subparsers) -> None:
    """Add the ``info`` sub-command."""
    p = subparsers.add_parser("info", help="describe a recording (format, sensor, events, time span, rate)",
                              description="Describe an event recording; the format is recognised from its bytes.")
    p.add_argument("path", help="event file (AEDAT, Prophesee DAT/RAW, N-MNIST bin, npy/npz, HDF5)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    p.set_defaults(func=_run)
