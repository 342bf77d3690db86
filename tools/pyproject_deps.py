"""Print pyproject.toml's dependencies (plus chosen extras), leaving out the ones named with --skip.

The Makefile uses this to install everything from the one dependency list in pyproject.toml
except SpikingJelly, which it installs with ``--no-deps`` (its unpinned torchvision/torchaudio
requirements would replace the CPU build of torch with a CUDA build).

    python tools/pyproject_deps.py --extra test --skip spikingjelly
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path


def requirement_name(req: str) -> str:
    """Distribution name of a PEP 508 requirement string, lower-cased ('torch>=2' -> 'torch')."""
    return re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0].lower()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--extra", action="append", default=[], help="optional-dependency group to add")
    ap.add_argument("--skip", action="append", default=[], help="distribution name to leave out")
    ap.add_argument("--only", action="append", default=[], help="print only these names' requirements")
    ap.add_argument("--pyproject", default=str(Path(__file__).resolve().parent.parent / "pyproject.toml"))
    args = ap.parse_args()
    project = tomllib.loads(Path(args.pyproject).read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in args.extra:
        reqs += project["optional-dependencies"][extra]
    skip = {s.lower() for s in args.skip}
    only = {s.lower() for s in args.only}
    for r in reqs:
        name = requirement_name(r)
        if name in skip or (only and name not in only):
            continue
        print(r)


if __name__ == "__main__":
    main()
