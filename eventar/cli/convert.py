"""``eventar convert SRC... -o DST``: event files or whole trees to eventar HDF5, nothing ever half-written.

* Each SRC is a file or a folder; folders are walked and mirrored under DST
  (``SRC/a/b.aedat`` -> ``DST/a/b.h5``).  Files are recognised by their bytes; files no reader
  recognises (READMEs, CSVs, ...) are skipped and counted.  One file SRC with ``-o x.h5`` writes
  exactly ``x.h5``.
* Every output is written to a hidden temporary file beside it and renamed on success
  (:func:`eventar.io.atomic.atomic_output`), so an error or Ctrl-C leaves no output.  A process
  killed with SIGKILL cannot remove its temporary file: such stale ``.<name>.*.partial.h5`` files
  are never taken for outputs or inputs, and the next conversion of the same output deletes them
  before writing.
* An existing output needs ``--force``.  Inputs are only ever opened read-only.
* A corrupt input prints one line on stderr (file, byte offset, what was wrong); the batch goes
  on and the exit code is 1 at the end.
* ``--labels`` (DVS128 Gesture): a trial ``userNN_<lighting>.aedat`` with a sibling
  ``userNN_<lighting>_labels.csv`` (header ``class,startTime_usec,endTime_usec``) is split into
  one file per labelled row, ``<stem>_<row>_<class>.h5`` (row from 0, class id as in the CSV,
  1..11), holding the events with ``startTime_usec <= t < endTime_usec``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EventarError, FormatError, UnknownFormatError
from ..events import Recording
from ..io import iter_events, read_events, read_header, sniff_format
from ..io.hdf5 import write_h5

__all__ = ["Job", "plan_jobs", "convert_one", "read_labels_csv", "register"]

LABELS_SUFFIX = "_labels.csv"


@dataclasses.dataclass(frozen=True)
class Job:
    """One input file and where its output(s) go.

    Attributes:
        src: input event file.
        dst: output ``.h5`` path (with ``labels``: the path whose stem prefixes every segment).
        labels: DVS128 Gesture labels CSV splitting ``src`` into segments, or None.
    """

    src: Path
    dst: Path
    labels: Optional[Path] = None


@dataclasses.dataclass
class Result:
    """What converting one :class:`Job` gave."""

    src: str
    outputs: List[str]
    n_events: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    error: Optional[str] = None


def read_labels_csv(path: "os.PathLike[str] | str") -> np.ndarray:
    """Parse a DVS128 Gesture ``*_labels.csv``.

    Returns:
        (K, 3) int64 array of rows (class id, start µs, end µs), in file order.
    Raises:
        FormatError: missing header, a malformed row (names its byte offset) or end <= start.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FormatError(path, f"cannot open: {e.strerror or e}") from None
    rows = []
    offset = 0
    for lineno, line in enumerate(raw.splitlines(keepends=True)):
        text = line.decode("utf-8", "replace").strip()
        here = offset
        offset += len(line)
        if not text:
            continue
        if lineno == 0:
            cols = [c.strip() for c in text.split(",")]
            if cols != ["class", "startTime_usec", "endTime_usec"]:
                raise FormatError(path, f"header is {text!r}, expected 'class,startTime_usec,endTime_usec'", 0)
            continue
        parts = [c.strip() for c in text.split(",")]
        try:
            if len(parts) != 3:
                raise ValueError
            cls, start, end = (int(c) for c in parts)
        except ValueError:
            raise FormatError(path, f"line {lineno + 1}: {text!r} is not 'class,start,end' integers", here) from None
        if end <= start:
            raise FormatError(path, f"line {lineno + 1}: end {end} <= start {start}", here)
        rows.append((cls, start, end))
    if not raw.strip():
        raise FormatError(path, "empty labels file, expected header 'class,startTime_usec,endTime_usec'", 0)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def _is_temp(p: Path) -> bool:
    return p.name.startswith(".") or ".partial" in p.name


def _labels_for(src: Path) -> Optional[Path]:
    cand = src.with_name(src.stem + LABELS_SUFFIX)
    return cand if cand.is_file() else None


def plan_jobs(srcs: Sequence["os.PathLike[str] | str"], dst: "os.PathLike[str] | str", labels: bool = False
              ) -> Tuple[List[Job], List[Path]]:
    """Work out the conversions for ``eventar convert``.

    Args:
        srcs: files and/or folders.
        dst: output folder (or, for a single file SRC, an ``.h5`` file path).
        labels: split DVS128 Gesture trials that have a ``_labels.csv`` sibling.
    Returns:
        (jobs, skipped): jobs in a stable order, and files skipped because no reader recognises them.
    Raises:
        EventarError: a SRC does not exist, or two inputs would write the same output.
    """
    dst = Path(dst)
    srcs = [Path(s) for s in srcs]
    jobs: List[Job] = []
    skipped: List[Path] = []
    single = len(srcs) == 1 and srcs[0].is_file() and dst.suffix.lower() in (".h5", ".hdf5") and not dst.is_dir()
    dst_res = dst.resolve()
    for src in srcs:
        if not src.exists():
            raise EventarError(f"{src}: no such file or folder")
        if src.is_file():
            files = [(src, Path(src.name))]
        else:
            files = []
            for p in sorted(src.rglob("*")):
                if not p.is_file() or _is_temp(p) or any(part.startswith(".") for part in p.relative_to(src).parts):
                    continue
                if dst_res == p.resolve().parent or dst_res in p.resolve().parents:
                    continue  # never re-convert our own outputs when DST lies inside SRC
                files.append((p, p.relative_to(src)))
        for path, rel in files:
            if labels and path.name.endswith(LABELS_SUFFIX):
                skipped.append(path)
                continue
            try:
                sniff_format(path)
            except UnknownFormatError:
                skipped.append(path)
                continue
            except FormatError:
                pass  # unreadable: let the job report it
            out = dst if single else (dst / rel).with_suffix(".h5")
            jobs.append(Job(path, out, _labels_for(path) if labels else None))
    seen: Dict[Path, Path] = {}
    for j in jobs:
        key = j.dst.resolve()
        if key in seen:
            raise EventarError(f"{seen[key]} and {j.src} would both write {j.dst}; convert them separately")
        if key == j.src.resolve():
            raise EventarError(f"{j.src}: output would overwrite the input; choose another -o")
        seen[key] = j.src
    return jobs, skipped


def _remove_stale(out: Path) -> None:
    """Delete temporary files a killed conversion of ``out`` left behind."""
    if out.parent.is_dir():
        for p in out.parent.glob(f".{out.name}.*.partial*"):
            try:
                p.unlink()
            except OSError:
                pass


def _segment_path(dst: Path, row: int, cls: int) -> Path:
    return dst.with_name(f"{dst.stem}_{row}_{cls}.h5")


def convert_one(job: Job, force: bool = False, compression: str = "gzip") -> Result:
    """Convert one input; never raises for a bad input (the error is in ``Result.error``).

    Whole files stream through :func:`eventar.io.iter_events` (memory independent of file
    size); a labelled trial is read whole and cut with ``searchsorted``.
    """
    res = Result(str(job.src), [])
    try:
        res.in_bytes = job.src.stat().st_size
        if job.labels is None:
            _remove_stale(job.dst)
            head = read_header(job.src)
            res.n_events = write_h5(job.dst, iter_events(job.src), header=head, force=force,
                                    compression=compression, source_file=str(job.src))
            res.outputs.append(str(job.dst))
        else:
            rows = read_labels_csv(job.labels)
            outs = [_segment_path(job.dst, i, int(r[0])) for i, r in enumerate(rows)]
            if not force:
                existing = [o for o in outs if o.exists()]
                if existing:
                    raise EventarError(f"{existing[0]}: output exists; pass --force to overwrite")
            rec = read_events(job.src)
            t = rec.events["t"]
            for i, ((cls, start, end), out) in enumerate(zip(rows.tolist(), outs)):
                # label times are on the recording's absolute clock: t + t_offset
                lo, hi = np.searchsorted(t, [start - rec.t_offset, end - rec.t_offset], side="left")
                meta = dict(rec.meta)
                meta.update(label=int(cls), label_row=i, label_window_us=[int(start), int(end)],
                            labels_file=str(job.labels), source_file=str(job.src))
                seg = Recording(rec.events[lo:hi], rec.width, rec.height, rec.format, rec.camera, rec.t_offset, meta)
                _remove_stale(out)
                res.n_events += write_h5(out, seg, force=force, compression=compression, source_file=str(job.src))
                res.outputs.append(str(out))
        res.out_bytes = sum(Path(o).stat().st_size for o in res.outputs)
    except EventarError as e:
        res.error = str(e)
    except MemoryError:
        res.error = f"{job.src}: out of memory"
    except OSError as e:
        res.error = f"{job.src}: {e.strerror or e}"
    except Exception as e:  # a reader bug must not stop the batch; say what it was
        res.error = f"{job.src}: unexpected {type(e).__name__}: {e}"
    if res.error is not None:
        res.error = " ".join(res.error.split())  # one line on stderr
    return res


def _convert_star(args):
    return convert_one(*args)


def _progress(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="convert",
                disable=not sys.stderr.isatty(), file=sys.stderr)


def run_convert(srcs, dst, *, force=False, workers=1, labels=False, compression="gzip") -> int:
    """Library entry of ``eventar convert``; returns the exit code (0 = every input converted)."""
    t0 = time.perf_counter()
    jobs, skipped = plan_jobs(srcs, dst, labels=labels)
    if not jobs:
        print(f"eventar convert: no event files found in {', '.join(map(str, srcs))}"
              + (f" ({len(skipped)} other files skipped)" if skipped else ""), file=sys.stderr)
        return 1
    total = 0
    for j in jobs:
        try:
            total += j.src.stat().st_size
        except OSError:
            pass
    bar = _progress(total)
    results: List[Result] = []

    def done(r: Result) -> None:
        results.append(r)
        if r.error:
            if bar is not None:
                bar.clear()
            print(f"eventar convert: error: {r.error}", file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(r.in_bytes)

    try:
        if workers <= 1 or len(jobs) == 1:
            for j in jobs:
                done(convert_one(j, force, compression))
        else:
            with cf.ProcessPoolExecutor(max_workers=workers) as pool:
                futs = [pool.submit(_convert_star, (j, force, compression)) for j in jobs]
                for fut in cf.as_completed(futs):
                    done(fut.result())
    finally:
        if bar is not None:
            bar.close()
    failed = [r for r in results if r.error]
    ok = [r for r in results if not r.error]
    n_out = sum(len(r.outputs) for r in ok)
    n_ev = sum(r.n_events for r in ok)
    mb_in = sum(r.in_bytes for r in ok) / 1e6
    mb_out = sum(r.out_bytes for r in ok) / 1e6
    dt = time.perf_counter() - t0
    summary = (f"converted {len(ok)}/{len(jobs)} files -> {n_out} outputs, {n_ev:,} events, "
               f"{mb_in:.1f} MB in -> {mb_out:.1f} MB out in {dt:.1f} s")
    if skipped:
        summary += f"; {len(skipped)} non-event files skipped"
    if failed:
        summary += f"; {len(failed)} FAILED (see errors above)"
    print(summary)
    return 1 if failed else 0


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise EventarError(f"--workers must be >= 1, got {args.workers}")
    return run_convert(args.src, args.output, force=args.force, workers=args.workers, labels=args.labels,
                       compression=args.compression)


def register(subparsers) -> None:
    """Add the ``convert`` sub-command."""
    p = subparsers.add_parser(
        "convert", help="convert event files or folder trees to eventar HDF5",
        description="Convert event files (any format eventar reads) or whole folder trees to HDF5 "
                    "(DSEC-compatible layout), mirroring the tree. Outputs appear only when complete.")
    p.add_argument("src", nargs="+", help="input files and/or folders")
    p.add_argument("-o", "--output", required=True, help="output folder (or .h5 file for a single input file)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--labels", action="store_true",
                   help="DVS128 Gesture: split each trial into one file per row of its _labels.csv")
    p.add_argument("--compression", choices=("gzip", "lzf"), default="gzip", help="HDF5 filter (both open without plugins)")
    p.set_defaults(func=_run)
