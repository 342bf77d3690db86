"""AEDAT 2.0: jAER DVS128 and DAVIS address layouts, clock wraps, special events, header edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventar.errors import FormatError
from eventar.events import make_events
from eventar.io import iter_events, read_events, read_header
from eventar.io.aedat_write import write_aedat2_dvs128

JAER_HEAD = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"


def _events(n, seed=0, span=1_000_000, t0=0):
    rng = np.random.default_rng(seed)
    return make_events(t0 + np.sort(rng.integers(0, span, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                       rng.integers(0, 2, n))


def _records(addr, ts) -> bytes:
    body = np.empty(len(addr), dtype=[("a", ">u4"), ("t", ">u4")])
    body["a"], body["t"] = addr, ts
    return body.tobytes()


def test_dvs128_golden_addresses(tmp_path: Path):
    """jAER's DVS128 extractor: x = 127 - ((a >> 1) & 0x7F), y = (a >> 8) & 0x7F, ON when bit 0 is 0."""
    p = tmp_path / "g.aedat"
    addr = [30339, 24926, 0x8000 | 5, 0x0000, 0x7FFF]
    p.write_bytes(JAER_HEAD + b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n" + _records(addr, [10, 20, 25, 30, 40]))
    rec = read_events(p)
    got = [tuple(int(v) for v in e) for e in rec.events]
    # 30339 = 0x7683: y = 0x76 = 118, x = 127 - 0x41 = 62, bit0 = 1 -> OFF; the bit-15 record is dropped
    assert got == [(10, 62, 118, 0), (20, 80, 97, 1), (30, 127, 0, 1), (40, 0, 127, 0)]
    assert rec.meta["n_dropped"] == 1 and rec.sensor_size == (128, 128, 2)


def test_writer_round_trip_with_wraps_and_special(tmp_path: Path):
    ev = _events(5000, seed=1, span=3 * (1 << 32), t0=(1 << 32) - 10)  # several 32-bit clock wraps
    ev["t"] = np.sort(ev["t"])
    # keep steps below 2^31 so each wrap is unambiguous
    ev = ev[np.concatenate([[True], np.diff(ev["t"]) < (1 << 31)])]
    t0 = int(ev["t"][0]) & ~((1 << 32) - 1)
    special = np.random.default_rng(2).random(len(ev)) < 0.1
    p = write_aedat2_dvs128(tmp_path / "w.aedat", ev, special_mask=special, creation_time_ms=1695355587880)
    rec = read_events(p)
    want = ev[~special].copy()
    want["t"] -= t0  # the file holds t mod 2^32; unfolding starts from the first record's epoch
    assert np.array_equal(rec.events, want)
    assert rec.meta["creation_time_ms"] == 1695355587880
    assert (np.diff(rec.events["t"]) >= 0).all()
    assert np.array_equal(np.concatenate(list(iter_events(p, 313))), rec.events)


def test_small_backward_steps_are_clamped_not_wrapped(tmp_path: Path):
    p = tmp_path / "jitter.aedat"
    p.write_bytes(JAER_HEAD + _records([2, 2, 2, 2], [1000, 995, 1010, 5]))
    rec = read_events(p)
    # 995 < 1000 is jitter (clamped); 1010 -> 5 is a drop of < 2^31, also clamped, not a wrap
    assert rec.events["t"].tolist() == [1000, 1000, 1010, 1010]
    assert rec.meta["n_clamped"] == 2
    q = tmp_path / "wrap.aedat"
    q.write_bytes(JAER_HEAD + _records([2, 2], [0xFFFFFFF0, 0x10]))
    assert read_events(q).events["t"].tolist() == [0xFFFFFFF0, (1 << 32) + 0x10]


def _davis_addr(x, y, p, width=346):
    return ((y << 22) | ((width - 1 - x) << 12) | (p << 11))


def test_davis346_layout_and_non_dvs_words(tmp_path: Path):
    p = tmp_path / "davis.aedat"
    addr = [
        _davis_addr(0, 0, 1),
        _davis_addr(345, 259, 0),
        0x80000000 | _davis_addr(3, 3, 0),  # APS sample: dropped
        0x80000C00,  # IMU word: dropped
        _davis_addr(10, 20, 0) | 0x400,  # external input event (bits 11-10 = 01): dropped
        _davis_addr(100, 200, 1),
    ]
    p.write_bytes(b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346B\r\n" + _records(addr, range(6)))
    rec = read_events(p)
    assert rec.sensor_size == (346, 260, 2) and rec.meta["layout"] == "DAVIS"
    assert [tuple(int(v) for v in e) for e in rec.events] == [(0, 0, 0, 1), (1, 345, 259, 0), (5, 100, 200, 1)]
    assert rec.meta["n_dropped"] == 3
    # a DAVIS address beyond the sensor is corrupt, reported at its record's byte offset
    bad = tmp_path / "bad.aedat"
    head = b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis240C\r\n"
    bad.write_bytes(head + _records([_davis_addr(1, 1, 1, 240), (300 << 22)], [1, 2]))
    with pytest.raises(FormatError) as e:
        read_events(bad)
    assert e.value.offset == len(head) + 8


def test_header_variants(tmp_path: Path):
    ev = _events(50)
    p = write_aedat2_dvs128(tmp_path / "lf.aedat", ev, newline="\n")  # LF-only header
    assert np.array_equal(read_events(p).events, ev)
    # a first binary record that starts with '#' (0x23) is not mistaken for a header line
    q = tmp_path / "hash.aedat"
    q.write_bytes(b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346red\r\n"
                  + _records([0x23000000 | _davis_addr(5, 0, 1)], [9]))
    assert [tuple(int(v) for v in e) for e in read_events(q).events] == [(9, 5, 140, 1)]
    # no AEChip line: DVS128 assumed and said so
    r = tmp_path / "nochip.aedat"
    r.write_bytes(JAER_HEAD + _records([2], [1]))
    assert "assumed" in read_header(r).meta["chip_assumed"]


@pytest.mark.parametrize(
    "content, words",
    [
        (JAER_HEAD + b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n" + b"\x00" * 13, "truncated"),
        (b"#!AER-DAT2.0\r\n# AEChip: org.example.UnknownChip\r\n" + b"\x00" * 8, "UnknownChip"),
    ],
)
def test_bad_files(tmp_path: Path, content, words):
    p = tmp_path / "bad.aedat"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=words):
        read_events(p)


def test_real_file_tonic_records_with_jaer_mapping(real_dir: Path):
    """tonic's raw (address, timestamp) records mapped with jAER's DVS128 formula equal eventar's events."""
    tio = pytest.importorskip("tonic.io")
    path = real_dir / "AlexOuyang__DVS128DataAnalysis" / "alex_walking_again.aedat"
    version, start, _ = tio.read_aedat_header_from_file(str(path))
    raw = tio.get_aer_events_from_file(str(path), version, start)
    a = raw["address"].astype(np.int64)
    rec = read_events(path)
    assert start == rec.meta["header_bytes"] == 4612
    assert np.array_equal(rec.events["t"], raw["timeStamp"].astype(np.int64))
    assert np.array_equal(rec.events["x"], 127 - ((a >> 1) & 0x7F))
    assert np.array_equal(rec.events["y"], (a >> 8) & 0x7F)
    assert np.array_equal(rec.events["p"], 1 - (a & 1))


def test_header_only_file_body_starts_at_file_size(real_dir: Path):
    """tonic reports data_start = 598 for this 599-byte file; the body really starts at 599."""
    path = real_dir / "neuromorphs__tonic" / "sample_aedat_header.aedat"
    rec = read_events(path)
    assert len(rec) == 0 and rec.meta["header_bytes"] == path.stat().st_size == 599
    assert rec.meta["creation_time_ms"] == 1695355587880 and rec.sensor_size == (346, 260, 2)
    assert list(iter_events(path)) == []
