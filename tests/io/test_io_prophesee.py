"""Prophesee DAT / EVT 2.0 / EVT 3.0: real files against EXPECTED.json, and spec-built files with known events."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventar.errors import EventarError, FormatError
from eventar.events import EVENT_DTYPE, make_events, validate_events
from eventar.io import iter_events, read_events, read_header

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_helpers import HOW, damage, exercise  # noqa: E402
from prophesee_encoders import dat_bytes, evt2_words, evt3_words, raw_bytes  # noqa: E402

REAL = {
    "evt3": "open-neuromorphic__expelliarmus/evt3_sample.raw",
    "dat": "neuromorphs__tonic/sample_ncars.dat",
}


def _check_expected(rec, exp):
    ev = rec.events
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) == exp["n_events"]
    rows = [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev[:5]]
    assert rows == exp["first5"]
    last = ev[-1]
    assert [int(last["t"]), int(last["x"]), int(last["y"]), int(last["p"])] == exp["last"]
    assert int(ev["t"].astype(np.int64).sum() % 1000000007) == exp["sum_t_mod_1000000007"]
    assert int(ev["x"].astype(np.int64).sum()) == exp["sum_x"]
    assert int(ev["y"].astype(np.int64).sum()) == exp["sum_y"]
    assert int(ev["p"].sum()) == exp["n_p1"]
    assert (int(ev["x"].min()), int(ev["x"].max())) == (exp["x_min"], exp["x_max"])
    assert (int(ev["y"].min()), int(ev["y"].max())) == (exp["y_min"], exp["y_max"])
    assert bool((np.diff(ev["t"]) >= 0).all()) == exp["t_monotonic"]
    if "sensor_size" in exp:
        assert list(rec.sensor_size[:2]) == exp["sensor_size"]
    validate_events(ev, rec.sensor_size[:2])


@pytest.mark.parametrize("key", sorted(REAL))
def test_real_file_matches_expected(real_dir, expected, key):
    rel = REAL[key]
    rec = read_events(real_dir / rel)
    _check_expected(rec, expected[rel])
    assert rec.format == expected[rel]["format"]
    streamed = np.concatenate(list(iter_events(real_dir / rel, chunk_events=7777)))
    assert np.array_equal(streamed, rec.events)


def test_evt3_time_trap(real_dir, expected):
    """TIME_LOW steps back inside one TIME_HIGH: t stays monotonic and ends at 11,727,467 µs
    (expelliarmus invents 4096 µs overflows and ends at 11,772,513 µs)."""
    rec = read_events(real_dir / REAL["evt3"])
    t = rec.events["t"]
    assert int(t[-1]) == 11_727_467
    assert (np.diff(t) >= 0).all()
    assert int(t.max()) < 2864 * 4096  # the file's largest TIME_HIGH is 2863
    head = read_header(real_dir / REAL["evt3"])
    assert head.sensor_size == (1280, 720, 2) and "gen41" in head.camera and len(head) == 0
    assert head.meta["encoding"] == "evt3"


def test_evt3_xyp_agree_with_expelliarmus(real_dir):
    Wizard = pytest.importorskip("expelliarmus").Wizard
    theirs = Wizard(encoding="evt3").read(str(real_dir / REAL["evt3"]))
    ours = read_events(real_dir / REAL["evt3"]).events
    for f in ("x", "y", "p"):
        assert np.array_equal(theirs[f].astype(np.int64), ours[f].astype(np.int64))


def test_ncars_dat_header(real_dir):
    head = read_header(real_dir / REAL["dat"])
    assert head.format == "Prophesee DAT v2 (Event2D)"
    assert head.sensor_size == (304, 240, 2)  # ATIS: the header carries no geometry
    assert head.meta["event_type_byte"] == 0 and head.meta["data_offset"] == 93


# ------------------------------------------------------------------------- synthetic encodings
def _events(n=2500, w=640, h=480, span=40_000_000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n))
    x = rng.integers(0, w, n)
    y = rng.integers(0, h, n)
    p = rng.integers(0, 2, n)
    # a run the EVT3 encoder writes as a vector (same t, y, polarity; x 50..59)
    t[100:110] = t[100]
    x[100:110] = np.arange(50, 60)
    y[100:110] = 7
    p[100:110] = 1
    return make_events(t, x, y, p)


HEADERS = {
    "geometry": ["% geometry 640x480", "% end"],
    "format": ["% format EVT3;height=480;width=640", "% end"],
    "plugin": ["% plugin_name hal_plugin_gen31_fx3", "% serial_number 00001234"],
}


@pytest.mark.parametrize("how", ["geometry", "format", "plugin"])
def test_evt3_spec_encoding_round_trips(tmp_path, how):
    ev = _events()  # 40 s: TIME_HIGH wraps at 2^24 µs
    head = ["% evt 3.0"] + HEADERS[how]
    path = tmp_path / "a.bin"  # the extension means nothing: the header decides
    path.write_bytes(raw_bytes(evt3_words(ev), head))
    rec = read_events(path)
    assert rec.format == "Prophesee RAW EVT3" and rec.sensor_size == (640, 480, 2)
    assert np.array_equal(rec.events, ev)
    chunks = list(iter_events(path, chunk_events=333))
    assert max(len(c) for c in chunks) == 333
    assert np.array_equal(np.concatenate(chunks), ev)


def test_evt3_time_low_step_back_is_clamped(tmp_path):
    ev = make_events([100, 200, 300, 400], [1, 2, 3, 4], [1, 1, 1, 1], [1, 1, 0, 0])
    path = tmp_path / "b.raw"
    path.write_bytes(raw_bytes(evt3_words(ev, vectorise=False, t_low_override={2: 150}), ["% evt 3.0", "% geometry 8x8", "% end"]))
    got = read_events(path).events
    assert got["t"].tolist() == [100, 200, 200, 400]
    assert got["x"].tolist() == [1, 2, 3, 4] and got["p"].tolist() == [1, 1, 0, 0]


def test_evt2_spec_encoding_round_trips(tmp_path):
    ev = _events(seed=1)
    path = tmp_path / "c.raw"
    path.write_bytes(raw_bytes(evt2_words(ev), ["% evt 2.0", "% geometry 640x480", "% end"]))
    rec = read_events(path)
    assert rec.format == "Prophesee RAW EVT2"
    assert np.array_equal(rec.events, ev)
    assert np.array_equal(np.concatenate(list(iter_events(path, 1000))), ev)


def test_evt2_version_from_plugin_name(tmp_path):
    ev = _events(n=500, seed=2)
    path = tmp_path / "gen3.raw"
    path.write_bytes(raw_bytes(evt2_words(ev), ["% Date 2019-01-01 10:00:00", "% plugin_name hal_plugin_gen3_fx3"]))
    rec = read_events(path)
    assert rec.format == "Prophesee RAW EVT2" and rec.sensor_size == (640, 480, 2)
    assert np.array_equal(rec.events, ev)


@pytest.mark.parametrize("ev_type,name", [(0x00, "Event2D"), (0x0C, "EventCD")])
def test_dat_spec_encoding_round_trips(tmp_path, ev_type, name):
    ev = _events(n=3000, w=1280, h=720, seed=3)
    path = tmp_path / "d.dat"
    path.write_bytes(dat_bytes(ev, ["% Data file containing CD events.", "% Version 2", "% Width 1280", "% Height 720"], ev_type=ev_type))
    rec = read_events(path)
    assert rec.format == f"Prophesee DAT v2 ({name})" and rec.sensor_size == (1280, 720, 2)
    assert np.array_equal(rec.events, ev)
    assert np.array_equal(np.concatenate(list(iter_events(path, 999))), ev)


def test_dat_clock_wrap_unfolded_and_step_back_clamped(tmp_path):
    n = 6
    t_true = np.array([10, 20, 2**32 - 5, 2**32 + 7, 2**32 + 7, 2**32 + 30], np.int64)
    ev = make_events(t_true, np.arange(n), np.zeros(n), np.ones(n))
    t32 = (t_true & 0xFFFFFFFF).astype(np.uint32)
    t32[4] = 3  # a step back of 4 µs within the wrapped epoch: clamped to the previous t
    path = tmp_path / "w.dat"
    path.write_bytes(dat_bytes(ev, ["% Version 2", "% Width 8", "% Height 8"], t32=t32))
    for got in (read_events(path).events, np.concatenate(list(iter_events(path, 2)))):
        assert got["t"].tolist() == [10, 20, 2**32 - 5, 2**32 + 7, 2**32 + 7, 2**32 + 30]


# ---------------------------------------------------------------------------------- bad inputs
def _dat_ok(tmp_path, **kw):
    ev = make_events([1, 2, 3], [1, 2, 3], [1, 1, 1], [0, 1, 0])
    return dat_bytes(ev, ["% Data file containing CD events.", "% Version 2", "% Width 16", "% Height 16"], **kw)


def test_dat_truncated_names_offset(tmp_path):
    data = _dat_ok(tmp_path)
    path = tmp_path / "t.dat"
    path.write_bytes(data[:-3])
    with pytest.raises(FormatError) as e:
        read_events(path)
    assert e.value.offset == len(data) - 8 and "truncated" in str(e.value) and str(path) in str(e.value)


def test_dat_bad_type_and_size(tmp_path):
    path = tmp_path / "b.dat"
    path.write_bytes(_dat_ok(tmp_path, ev_type=0x0E))
    with pytest.raises(FormatError, match="not a CD event"):
        read_events(path)
    path.write_bytes(_dat_ok(tmp_path, ev_size=16))
    with pytest.raises(FormatError, match="event size byte is 16"):
        read_events(path)


def test_dat_coordinate_outside_sensor_names_event(tmp_path):
    ev = make_events([1, 2, 3], [1, 20, 3], [1, 1, 1], [0, 1, 0])
    path = tmp_path / "o.dat"
    data = dat_bytes(ev, ["% Version 2", "% Width 16", "% Height 16"])
    path.write_bytes(data)
    with pytest.raises(FormatError) as e:
        read_events(path)
    assert "event 1" in str(e.value) and e.value.offset == len(data) - 16


def test_evt3_corrupt_words_raise_eventar_error(tmp_path):
    words = np.array([0x8000, 0x6001, 0x0000 | 5, 0x2000 | 700], "<u2")  # x = 700 on a 640-wide sensor
    path = tmp_path / "x.raw"
    path.write_bytes(raw_bytes(words, ["% evt 3.0", "% geometry 640x480", "% end"]))
    with pytest.raises(FormatError, match="x overflow"):
        read_events(path)
    with pytest.raises(FormatError):
        list(iter_events(path))


def test_raw_without_size_or_version_is_refused(tmp_path):
    path = tmp_path / "n.raw"
    path.write_bytes(raw_bytes(np.zeros(4, "<u2"), ["% evt 3.0", "% serial_number 1", "% end"]))
    with pytest.raises(FormatError, match="sensor size"):
        read_events(path)
    path.write_bytes(raw_bytes(np.zeros(4, "<u2"), ["% geometry 4x4", "% serial_number 1", "% end"]))
    with pytest.raises(FormatError, match="no encoding"):
        read_events(path)
    path.write_bytes(raw_bytes(np.zeros(4, "<u2"), ["% evt 2.1", "% geometry 4x4", "% end"]))
    with pytest.raises(EventarError, match="EVT 2.1"):
        read_events(path)


def test_faery_record_copy_fast_and_generic_paths_agree():
    from eventar.io.formats.prophesee import _fill

    packed = np.zeros(4, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    packed["t"] = [1, 2**40 + 5, 2**40 + 5, 2**50]
    packed["x"] = [0, 65535, 3, 1279]
    packed["y"] = [4, 5, 700, 719]
    packed["on"] = [True, False, True, False]
    padded = np.zeros(4, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?"), ("pad", "u1")])
    for f in ("t", "x", "y", "on"):
        padded[f] = packed[f]
    want = make_events(packed["t"].astype(np.int64), packed["x"], packed["y"], packed["on"])
    for src in (packed, padded):  # 13-byte records take the compiled path, others the field copy
        out = np.zeros(6, EVENT_DTYPE)
        _fill(src, out, 1)
        assert np.array_equal(out[1:5], want) and out[0] == out[5]


# ------------------------------------------------------------------------------------ fuzzing
def _fuzz_seeds():
    ev = _events(n=400, w=64, h=48, seed=9)
    return [
        raw_bytes(evt3_words(ev), ["% evt 3.0", "% geometry 64x48", "% end"]),
        raw_bytes(evt2_words(ev), ["% evt 2.0", "% geometry 64x48", "% end"]),
        dat_bytes(ev, ["% Data file containing CD events.", "% Version 2", "% Width 64", "% Height 48"]),
    ]


_SEEDS = _fuzz_seeds()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_only_eventar_errors_escape(tmp_path, data):
    """Truncated, bit-flipped and header-corrupted Prophesee files: decoded or FormatError, nothing else."""
    raw = _SEEDS[data.draw(st.integers(0, len(_SEEDS) - 1), label="seed")]
    path = tmp_path / "f.bin"
    path.write_bytes(damage(data, raw, data.draw(st.sampled_from(HOW), label="how"), header_span=81))
    exercise(path, len(raw))
