"""Prophesee read throughput and HDF5 write throughput, eventar against its delegate and raw h5py.

Run:  .venv/bin/python benchmarks/bench_io_formats.py [--events 5000000] [--repeats 5] [--write]

* Prophesee RAW EVT 3.0 / EVT 2.0: ``eventar.io.read_events`` (faery underneath plus the header
  parse and the conversion to eventar's record) against ``faery`` called directly, and
  ``expelliarmus`` when installed (its EVT 3.0 times are wrong, it is timed anyway); the
  real 618 KB sample and generated files of ``--events`` events (written with faery's encoder).
* Prophesee DAT: eventar's own decoder against expelliarmus (faery refuses Event2D files; it
  reads EventCD ones, so it is timed on an EventCD file).
* Every read is compared with the floor of touching the file's bytes once from memory.
* HDF5 write: ``eventar.io.write_h5`` (gzip level 1, lzf) against h5py writing the same four
  arrays with the same chunking and filters in one call each; HDF5 read likewise.

Files are read from the page cache (warm-up round first).  Results go to the section
"I/O: Prophesee and HDF5" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bandwidth_floor, bench_interleaved, machine, update_results_section  # noqa: E402

REAL_EVT3 = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "open-neuromorphic__expelliarmus" / "evt3_sample.raw"


def _faery_array(path, version):
    """What a faery user writes to get one array: ``events_stream_from_file(...).to_array()``."""
    import faery

    if version == "dat":
        return faery.events_stream_from_file(path, file_type="dat", dimensions_fallback=(1280, 720)).to_array()
    return faery.events_stream_from_file(path, file_type="evt", dimensions_fallback=(1280, 720), version_fallback=version).to_array()


def _make_inputs(folder: Path, n: int):
    from faery.extension import evt

    rng = np.random.default_rng(0)
    ev = np.zeros(n, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    ev["t"] = np.sort(rng.integers(0, n * 6, n))  # ~170 k ev/s ... a busy Gen4.1 scene
    ev["x"] = rng.integers(0, 1280, n)
    ev["y"] = rng.integers(0, 720, n)
    ev["on"] = rng.integers(0, 2, n)
    out = {}
    for v in ("evt3", "evt2"):
        p = folder / f"gen_{v}.raw"
        with evt.Encoder(str(p), v, False, (1280, 720), True) as e:
            e.write({"events": ev})
        out[v] = p
    rec = np.empty((n, 2), "<u4")
    rec[:, 0] = ev["t"]
    rec[:, 1] = ev["x"].astype(np.uint32) | (ev["y"].astype(np.uint32) << 14) | (ev["on"].astype(np.uint32) << 28)
    p = folder / "gen_cd.dat"
    p.write_bytes(b"% Data file containing CD events.\n% Version 2\n% Width 1280\n% Height 720\n" + bytes([0x0C, 8]) + rec.tobytes())
    out["dat"] = p
    return out


def bench_reads(files, repeats):
    from eventar.io import read_events

    try:
        from expelliarmus import Wizard
    except ImportError:
        Wizard = None
    rows = []
    for label, (path, version) in files.items():
        n = len(read_events(path))
        fns = {"eventar": lambda p=path: read_events(p)}
        if version in ("evt2", "evt3"):
            fns["faery"] = lambda p=path, v=version: _faery_array(p, v)
        else:
            fns["faery"] = lambda p=path: _faery_array(p, "dat")
        if Wizard is not None:
            wiz = Wizard(encoding=version if version != "dat" else "dat")
            fns["expelliarmus"] = lambda p=path, w=wiz: w.read(str(p))
        res = bench_interleaved(fns, repeats=repeats)
        floor = bandwidth_floor(path.stat().st_size)
        rows.append((label, n, path.stat().st_size, res, floor))
    return rows


def bench_h5(n, repeats, folder: Path):
    import h5py

    from eventar.events import Recording, make_events
    from eventar.io import read_events, write_h5

    rng = np.random.default_rng(1)
    ev = make_events(np.sort(rng.integers(0, n * 6, n)), rng.integers(0, 1280, n), rng.integers(0, 720, n), rng.integers(0, 2, n))
    rec = Recording(ev, 1280, 720, "synthetic", "", 0, {})
    cols = {k: np.ascontiguousarray(ev[k]) for k in "xyp"}
    cols["t"] = ev["t"] - ev["t"][0]
    chunk = 1 << 16

    def h5py_write(path, comp):
        opts = dict(compression=comp, shuffle=True, chunks=(chunk,))
        if comp == "gzip":
            opts["compression_opts"] = 1
        with h5py.File(path, "w") as f:
            g = f.create_group("events")
            for k, a in cols.items():
                g.create_dataset(k, data=a, **opts)

    def h5py_read(path):
        with h5py.File(path, "r") as f:
            return {k: f["events"][k][:] for k in "xytp"}

    results = {}
    for comp in ("gzip", "lzf"):
        ours, theirs = folder / f"e_{comp}.h5", folder / f"h_{comp}.h5"
        w = bench_interleaved({
            "eventar write_h5": lambda c=comp, o=ours: write_h5(o, rec, force=True, compression=c, chunk_events=chunk),
            "h5py (same arrays)": lambda c=comp, o=theirs: h5py_write(o, c),
        }, repeats=repeats)
        r = bench_interleaved({
            "eventar read_events": lambda o=ours: read_events(o),
            "h5py (4 datasets)": lambda o=theirs: h5py_read(o),
        }, repeats=repeats)
        results[comp] = (w, r, ours.stat().st_size)
    return n, results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000, help="events in each generated file")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md (default: print only)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gen = _make_inputs(folder, args.events)
        files = {}
        if REAL_EVT3.is_file():
            files["EVT 3.0 real sample (Gen4.1)"] = (REAL_EVT3, "evt3")
        files["EVT 3.0 generated"] = (gen["evt3"], "evt3")
        files["EVT 2.0 generated"] = (gen["evt2"], "evt2")
        files["DAT (EventCD) generated"] = (gen["dat"], "dat")
        reads = bench_reads(files, args.repeats)
        n_h5, h5 = bench_h5(args.events, args.repeats, folder)

    lines = [
        f"Machine: {machine()}; shared 2-core VM, noisy (other engineers' jobs running), files in the page cache.",
        f"Command: `.venv/bin/python benchmarks/bench_io_formats.py --events {args.events} --repeats {args.repeats} --write`",
        "Medians of interleaved repeats (each repeat runs every tool once). Floor = summing the file's bytes once from memory.",
        "",
        "### Prophesee read (events/s of each reader; last two columns: time ratios, < 1 = eventar faster)",
        "",
        "| file | events | MB | eventar | faery | expelliarmus | floor bandwidth | eventar / faery time | eventar / floor time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, n, size, res, floor in reads:
        def rate(k):
            return f"{n / res[k] / 1e6:.1f} M" if k in res else "-"

        lines.append(
            f"| {label} | {n:,} | {size / 1e6:.1f} | {rate('eventar')} | {rate('faery')} | {rate('expelliarmus')} | "
            f"{size / floor / 1e9:.1f} GB/s | {res['eventar'] / res['faery']:.2f} | {res['eventar'] / floor:.0f}× |")
    lines += ["", "(DAT: faery reads EventCD files only; eventar decodes DAT itself because faery refuses Event2D "
              "files such as N-CARS'. expelliarmus' EVT 3.0 timestamps are wrong on real data, see PROVENANCE §9. faery is timed as its users call it, `events_stream_from_file(...).to_array()`; eventar decodes with the same faery decoder but copies its packets straight into eventar records in one compiled pass instead of concatenating them, hence < 1.)",
              "", f"### HDF5 ({n_h5:,} events, chunks of 65,536, shuffle)", "",
              "| filter | eventar write_h5 | h5py write (same arrays) | write ratio | eventar read | h5py read | read ratio | file MB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for comp, (w, r, size) in h5.items():
        ew, hw = w["eventar write_h5"], w["h5py (same arrays)"]
        er, hr = r["eventar read_events"], r["h5py (4 datasets)"]
        lines.append(f"| {comp}{' (level 1)' if comp == 'gzip' else ''} | {n_h5 / ew / 1e6:.1f} M ev/s | {n_h5 / hw / 1e6:.1f} M ev/s | "
                     f"{ew / hw:.2f} | {n_h5 / er / 1e6:.1f} M ev/s | {n_h5 / hr / 1e6:.1f} M ev/s | {er / hr:.2f} | {size / 1e6:.1f} |")
    lines += ["", "eventar's write also validates t order and coordinates and builds `ms_to_idx`; its read builds the "
              "13-byte event records that h5py's plain column read does not."]
    body = "\n".join(lines)
    print(body)
    if args.write:
        print("updated", update_results_section("I/O: Prophesee and HDF5", body))


if __name__ == "__main__":
    main()
