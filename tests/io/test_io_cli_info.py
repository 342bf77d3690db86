"""``eventar info``: table and JSON on real and generated recordings; bad files give one error line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventar.cli import main
from eventar.cli.info import recording_info
from eventar.events import Recording, make_events
from eventar.io import write_h5

EVT3 = "open-neuromorphic__expelliarmus/evt3_sample.raw"


def test_info_json_matches_expected(real_dir, expected, capsys):
    assert main(["info", str(real_dir / EVT3), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    exp = expected[EVT3]
    assert info["format"] == exp["format"]
    assert info["sensor_size"] == exp["sensor_size"]
    assert info["n_events"] == exp["n_events"] and info["n_on"] == exp["n_p1"]
    assert (info["t_first_us"], info["t_last_us"], info["span_us"]) == (exp["t_first"], exp["t_last"], exp["span_us"])
    assert info["rate_events_per_s"] == pytest.approx(exp["n_events"] / (exp["span_us"] * 1e-6))
    assert "gen41" in info["camera"] and info["size_bytes"] == exp["size_bytes"]


def test_info_lists_aedat4_streams(real_dir, expected, capsys):
    rel = "shiba24__event-vision-library/sample.aedat4"
    info = recording_info(real_dir / rel)
    assert info["streams"] is not None, "the AEDAT 4.0 reader must report the file's streams"
    types = sorted(s["type"] for s in info["streams"].values())
    assert types == sorted(s["type"] for s in expected[rel]["streams"].values())
    assert main(["info", str(real_dir / rel)]) == 0
    out = capsys.readouterr().out
    assert "streams" in out and "frame" in out


def test_info_table_on_generated_h5(tmp_path, capsys):
    ev = make_events(np.arange(0, 4000, 2), np.arange(2000) % 32, np.arange(2000) % 16, np.arange(2000) % 2)
    path = tmp_path / "g.h5"
    write_h5(path, Recording(ev, 32, 16, "Prophesee RAW EVT3", "cam0", 500, {}))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "eventar HDF5 (from Prophesee RAW EVT3)" in out
    assert "32 x 16" in out and "2,000" in out and "cam0" in out
    assert "0 .. 3,998 µs" in out and "t_offset" in out and "500" in out
    assert "ON 50.0 %" in out


def test_info_empty_file(tmp_path, capsys):
    path = tmp_path / "e.h5"
    write_h5(path, Recording(make_events([], [], [], []), 8, 8, "x", "", 0, {}))
    info = recording_info(path)
    assert info["n_events"] == 0 and info["t_first_us"] is None and info["rate_events_per_s"] is None
    assert main(["info", str(path)]) == 0


def test_info_bad_file_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "unrecognised" in err[0]
    assert main(["info", str(tmp_path / "missing.raw")]) == 1
