"""``eventar show``: render a recording, a representation of it, or a training run as pictures."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "show",
        help="render a recording, a representation or a run folder to PNG / GIF / MP4 (+ HTML for runs)",
        description=(
            "PATH is a recording (any format eventar reads) or a run folder of `eventar train`. "
            "Recordings: a still grid of time slices with an event-rate strip (.png), or an animation of "
            "accumulated frames (.gif, or .mp4 when ffmpeg is installed). --as renders a representation. "
            "Runs: training curves, confusion matrix and energy chart as PNG plus a self-contained HTML page."
        ),
    )
    p.add_argument("path", help="recording file or run folder")
    p.add_argument("-o", "--out", help="output file (.png, .gif, .mp4; .html for runs). Default: <name>.png beside the input")
    p.add_argument("--as", dest="kind", choices=["frames", "voxel", "pointcloud", "afe"], help="render this representation")
    p.add_argument("--slices", type=int, default=6, help="time slices in a still, or bins of a representation (default 6)")
    p.add_argument("--window-us", type=int, default=20_000, help="µs of events per animation frame (default 20000)")
    p.add_argument("--speed", type=float, default=1.0, help="animation playback speed, 1 = real time (default 1)")
    p.add_argument("--scale", type=int, default=2, help="pixel up-scaling of animations (default 2)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import OutputExistsError
    from .. import viz

    src = Path(args.path)
    if src.is_dir():
        out = Path(args.out) if args.out else src / "summary.html"
        if not args.force and (out.with_suffix(".png").exists() or out.with_suffix(".html").exists()):
            raise OutputExistsError(f"{out.with_suffix('.png')} or .html exists; pass --force to overwrite")
        paths = viz.write_run_page(src, out, force=True)
        print(f"wrote {paths['png']} and {paths['html']}")
        return 0
    out = Path(args.out) if args.out else src.with_name(src.stem + (f"_{args.kind}" if args.kind else "") + ".png")
    suffix = out.suffix.lower()
    if suffix in (".gif", ".mp4"):
        if args.kind:
            print("eventar show: --as is drawn as a still; animations show accumulated frames", flush=True)
        n = viz.save_animation(src, out, window_us=args.window_us, speed=args.speed, scale=args.scale, force=args.force)
        print(f"wrote {out} ({n} frames of {args.window_us} µs)")
        return 0
    if suffix != ".png":
        from ..errors import EventarError

        raise EventarError(f"{out}: choose a .png, .gif or .mp4 output")
    fig = viz.plot_representation(src, args.kind, bins=args.slices) if args.kind else viz.plot_events(src, slices=args.slices)
    viz.figure_to_png(fig, out, force=args.force)
    print(f"wrote {out}")
    return 0
