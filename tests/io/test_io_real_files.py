"""Every real recording in ../shared/data/real read through read_events and compared with EXPECTED.json.

One parametrised table over EXPECTED.json's entries, dispatched by the file's bytes.  An entry whose
format has no reader registered yet is skipped (not xfailed), so the table grows as readers land.
Skips entirely when the shared data folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventar.events import validate_events
from eventar.io import iter_events, read_events, read_header, readers, sniff_format
from eventar.errors import UnknownFormatError

from conftest import REAL_DIR

# EXPECTED.json format name -> the reader (FormatReader.name) that must handle it
_READER_FOR = {
    "AEDAT 2.0": "AEDAT 2.0",
    "AEDAT 4.0": "AEDAT 4.0",
    "N-MNIST/N-Caltech101 ATIS binary (5 bytes/event)": "N-MNIST binary",
    "Prophesee RAW EVT3": "Prophesee RAW (EVT 2.0/2.1/3.0)",
    "Prophesee DAT v2 (Event2D)": "Prophesee DAT",
}


def _entries():
    path = REAL_DIR / "EXPECTED.json"
    if not path.is_file():
        return []
    return sorted(json.loads(path.read_text())["files"])


ENTRIES = _entries()


def _needs_reader(exp: dict) -> str:
    name = _READER_FOR.get(exp["format"])
    registered = {r.name for r in readers()}
    assert name is not None and name in registered, f"no reader registered for {exp['format']!r} (have {sorted(registered)})"
    return name


def _tuples(ev: np.ndarray) -> list:
    return [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev]


@pytest.mark.skipif(not ENTRIES, reason=f"real recordings not present at {REAL_DIR}")
@pytest.mark.parametrize("rel", ENTRIES)
def test_real_file_matches_expected(real_dir: Path, expected: dict, rel: str):
    exp = expected[rel]
    name = _needs_reader(exp)
    path = real_dir / rel
    assert sniff_format(path).name == name
    rec = read_events(path)
    ev = rec.events
    assert len(rec) == exp["n_events"]
    if "sensor_size" in exp:  # not recorded for N-CARS' DAT (no geometry in its header)
        assert list(rec.sensor_size[:2]) == exp["sensor_size"]
    if "camera" in exp:
        assert rec.camera == exp["camera"]
    if exp["n_events"] == 0:
        return
    assert _tuples(ev[:5]) == exp["first5"]
    assert _tuples(ev[-1:])[0] == exp["last"]
    assert int(ev["x"].sum()) == exp["sum_x"]
    assert int(ev["y"].sum()) == exp["sum_y"]
    assert int(ev["t"].sum()) % 1_000_000_007 == exp["sum_t_mod_1000000007"]
    assert int(ev["p"].sum()) == exp["n_p1"]
    assert (int(ev["x"].min()), int(ev["x"].max()), int(ev["y"].min()), int(ev["y"].max())) == (
        exp["x_min"], exp["x_max"], exp["y_min"], exp["y_max"])
    validate_events(ev, (rec.width, rec.height))  # inside the sensor, t non-decreasing


@pytest.mark.skipif(not ENTRIES, reason=f"real recordings not present at {REAL_DIR}")
@pytest.mark.parametrize("rel", ENTRIES)
def test_real_file_streams_like_whole_read(real_dir: Path, expected: dict, rel: str):
    """iter_events chunks concatenate to read_events; header metadata agrees with the full read."""
    exp = expected[rel]
    _needs_reader(exp)
    path = real_dir / rel
    rec = read_events(path)
    chunk = max(1, exp["n_events"] // 7 + 3)
    parts = list(iter_events(path, chunk))
    assert all(0 < len(p) <= chunk for p in parts)
    got = np.concatenate(parts) if parts else rec.events[:0]
    assert np.array_equal(got, rec.events)
    head = read_header(path)
    assert len(head) == 0
    assert (head.sensor_size, head.format, head.camera) == (rec.sensor_size, rec.format, rec.camera)


@pytest.mark.skipif(not ENTRIES, reason=f"real recordings not present at {REAL_DIR}")
def test_sniffing_uses_bytes_not_extension(real_dir: Path, expected: dict, tmp_path: Path):
    """Real files copied under misleading names are still read by the right reader."""
    tried = 0
    for rel, exp in expected.items():
        name = _READER_FOR.get(exp["format"])
        if name not in {r.name for r in readers()}:
            continue
        wrong = tmp_path / (Path(rel).stem + {".aedat4": ".npy", ".aedat": ".raw"}.get(Path(rel).suffix, ".aedat4"))
        wrong.write_bytes((real_dir / rel).read_bytes())
        assert sniff_format(wrong).name == name, rel
        assert len(read_events(wrong)) == exp["n_events"]
        wrong.unlink()
        tried += 1
    assert tried >= 1


def test_unrecognised_bytes_raise_unknown_format(tmp_path: Path):
    p = tmp_path / "notes.aedat"
    p.write_text("hello, this is not an event file\n" * 10)
    with pytest.raises(UnknownFormatError) as e:
        read_events(p)
    assert "notes.aedat" in str(e.value)
