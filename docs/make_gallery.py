"""Render the README gallery: one picture per representation of the same real recording.

    python docs/make_gallery.py [RECORDING] [-o docs/gallery]

RECORDING defaults to the DVS128 hand-gesture AEDAT 4.0 file in ../shared/data/real (a public
recording that is not redistributed here).  When it is absent, a SyntheticGestures sample is used
and the gallery's README says so.  Every picture is produced by the current code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "data" / "real" / "redpob__dvs128-testing" / "dvSave-2024_06_13_16_16_25.aedat4"


def load(path: Path | None):
    """(Recording, description) of the gallery's source."""
    from eventar.events import Recording
    from eventar.io import read_events

    if path is not None and path.is_file():
        rec = read_events(path)
        return rec, f"`{path.name}` ({rec.format}, {rec.camera or 'unknown camera'}, {len(rec):,} events)"
    from eventar.datasets import SyntheticGestures

    ds = SyntheticGestures(split="test", seed=0)
    events, label = ds[0]
    return Recording(events, ds.sensor_size[0], ds.sensor_size[1], format="SyntheticGestures"), (
        f"a SyntheticGestures test sample (class `{ds.classes[label]}`), because the real recording was not found"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recording", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "gallery")
    ap.add_argument("--dpi", type=int, default=60)
    args = ap.parse_args(argv)
    from eventar import viz

    clip, source = load(args.recording)
    args.out.mkdir(parents=True, exist_ok=True)
    made = {"events.png": viz.plot_events(clip, slices=6)}
    for kind in viz.KINDS:
        made[f"{kind}.png"] = viz.plot_representation(clip, kind, bins=6)
    for name, fig in made.items():
        viz.figure_to_png(fig, args.out / name, dpi=args.dpi)
    n = viz.save_animation(clip, args.out / "events.gif", window_us=100_000, speed=1.0, scale=2)
    lines = [
        "# Gallery",
        "",
        f"Rendered by `python docs/make_gallery.py` from {source}.",
        "",
        "| picture | what it shows |",
        "|---|---|",
        "| ![events](events.png) | six time slices (ON red, OFF blue) and the event rate (`eventar show REC`) |",
        f"| ![animation](events.gif) | {n} frames of 100 ms in real time (`eventar show REC -o rec.gif --window-us 100000`) |",
        "| ![frames](frames.png) | count frames, 6 time bins (`--as frames`) |",
        "| ![voxel](voxel.png) | voxel grid, 6 bins, signed polarity (`--as voxel`) |",
        "| ![pointcloud](pointcloud.png) | SpikePoint point cloud with time as the third axis (`--as pointcloud`) |",
        "| ![afe](afe.png) | AFE frames as SpikMamba sees them (`--as afe`) |",
        "",
    ]
    (args.out / "README.md").write_text("\n".join(lines))
    print(f"gallery written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
