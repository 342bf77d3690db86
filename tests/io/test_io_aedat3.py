"""AEDAT 3.1: spec-exact files written byte by byte and read back; tonic agrees where it is right."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventar.errors import EventValidationError, FormatError
from eventar.events import make_events
from eventar.io import iter_events, read_events, read_header, sniff_format
from eventar.io.aedat_write import write_aedat31

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-04-05 11:33:20 (TZ+0200)\r\n#!END-HEADER\r\n"


def _events(n: int, seed: int = 0, t0: int = 0, span: int = 10_000_000, w: int = 128, h: int = 128):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span, n))
    return make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def _packet(etype, size, tsoff, overflow, capacity, number, valid, body=b""):
    return struct.pack("<hhiiiiii", etype, 1, size, tsoff, overflow, capacity, number, valid) + body


def _pol(x, y, p, t, valid=1):
    return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t)


def test_hand_built_file_golden(tmp_path: Path):
    """A file assembled here from the spec (not by eventar's writer) decodes to known events."""
    body = (
        _packet(0, 8, 4, 0, 1, 1, 1, struct.pack("<Ii", 0x1, 7))  # SPECIAL packet: skipped
        + _packet(1, 8, 4, 0, 5, 3, 2, _pol(3, 2, 1, 10) + _pol(127, 0, 0, 11, valid=0) + _pol(0, 127, 0, 12))
        + _packet(2, 20, 4, 0, 2, 2, 2, bytes(40))  # FRAME-like packet with 20-byte events: skipped by header
        + _packet(1, 8, 4, 1, 1, 1, 1, _pol(5, 6, 1, 3))  # eventTSOverflow = 1: t = 2^31 + 3
    )
    p = tmp_path / "golden.aedat"
    p.write_bytes(HEADER + body)
    rec = read_events(p)
    assert rec.format == "AEDAT 3.1" and rec.camera == "DVS128" and rec.sensor_size == (128, 128, 2)
    got = [tuple(int(v) for v in e) for e in rec.events]
    assert got == [(10, 3, 2, 1), (12, 0, 127, 0), ((1 << 31) + 3, 5, 6, 1)]
    assert rec.meta["n_invalid"] == 1


def test_writer_bytes_are_spec_exact(tmp_path: Path):
    ev = make_events([5, 9], [3, 127], [2, 0], [1, 0])
    p = write_aedat31(tmp_path / "w.aedat", ev, 128, 128)
    raw = p.read_bytes()
    assert raw.startswith(HEADER)
    assert raw[len(HEADER):] == _packet(1, 8, 4, 0, 2, 2, 2, _pol(3, 2, 1, 5) + _pol(127, 0, 0, 9))


def test_round_trip_packets_extra_packets_invalid_overflow(tmp_path: Path):
    ev = _events(6000, seed=1, t0=(1 << 31) - 3_000_000, span=6_000_000)  # crosses 2^31 µs
    invalid = np.random.default_rng(2).random(len(ev)) < 0.15
    p = write_aedat31(tmp_path / "trial.aedat", ev, 128, 128, max_packet_events=500, extra_packets=True,
                      invalid_mask=invalid, capacity_slack=7)
    rec = read_events(p)
    assert np.array_equal(rec.events, ev[~invalid])
    assert rec.meta["n_invalid"] == int(invalid.sum())
    assert rec.events["t"].max() > 1 << 31
    for chunk in (1, 333, 500, 10_000):
        if chunk == 1:
            continue  # covered by the hypothesis test on small files
        assert np.array_equal(np.concatenate(list(iter_events(p, chunk))), rec.events)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**31),
    packet=st.integers(1, 64),
    extra=st.booleans(),
    chunk=st.integers(1, 50),
    t0=st.sampled_from([0, (1 << 31) - 500, 5 << 31]),
)
def test_round_trip_property(tmp_path: Path, n, seed, packet, extra, chunk, t0):
    ev = _events(n, seed=seed, t0=t0, span=1000)
    invalid = np.random.default_rng(seed).random(n) < 0.2
    p = write_aedat31(tmp_path / "h.aedat", ev, 128, 128, max_packet_events=packet, extra_packets=extra,
                      invalid_mask=invalid, force=True)
    rec = read_events(p)
    assert np.array_equal(rec.events, ev[~invalid])
    parts = list(iter_events(p, chunk))
    assert all(0 < len(c) <= chunk for c in parts)
    got = np.concatenate(parts) if parts else rec.events[:0]
    assert np.array_equal(got, rec.events)


def _tonic_events(p: Path):
    tio = pytest.importorskip("tonic.io")
    version, start, _ = tio.read_aedat_header_from_file(str(p))
    raw = tio.get_aer_events_from_file(str(p), version, start)
    a = raw["address"].astype(np.int64)
    # tonic.io.read_dvs_ibm's bit layout (the function itself crashes in tonic 1.7.0 on unpacking)
    return (raw["timeStamp"].astype(np.int64), (a >> 17) & 0x1FFF, (a >> 2) & 0x1FFF, (a >> 1) & 1, a & 1)


def test_tonic_agrees_where_it_is_right(tmp_path: Path):
    """Polarity packets only, capacity == number, no overflow: tonic reads the same events."""
    ev = _events(5000, seed=3)
    p = write_aedat31(tmp_path / "plain.aedat", ev, 128, 128, max_packet_events=777)
    t, x, y, pol, _ = _tonic_events(p)
    rec = read_events(p)
    assert np.array_equal(t, rec.events["t"]) and np.array_equal(x, rec.events["x"])
    assert np.array_equal(y, rec.events["y"]) and np.array_equal(pol, rec.events["p"])
    # tonic keeps events whose valid bit is 0; once those are dropped it agrees again
    invalid = np.random.default_rng(4).random(len(ev)) < 0.3
    p2 = write_aedat31(tmp_path / "invalid.aedat", ev, 128, 128, invalid_mask=invalid)
    t, x, y, pol, valid = _tonic_events(p2)
    keep = valid == 1
    rec2 = read_events(p2)
    assert np.array_equal(t[keep], rec2.events["t"]) and np.array_equal(x[keep], rec2.events["x"])


def test_tonic_is_wrong_on_overflow_and_other_packets(tmp_path: Path):
    """Documents tonic 1.7's bugs that eventar fixes (ignored eventTSOverflow, non-polarity packets read as events)."""
    ev = _events(2000, seed=5, t0=(1 << 31) - 1000, span=2000)
    p = write_aedat31(tmp_path / "ovf.aedat", ev, 128, 128, max_packet_events=256, extra_packets=True)
    t, *_ = _tonic_events(p)
    assert len(t) != len(ev) or not np.array_equal(t, ev["t"])
    assert np.array_equal(read_events(p).events, ev)


def test_sensor_size_from_source_line_size_line_and_fallback(tmp_path: Path):
    ev = _events(100, seed=6, w=346, h=260)
    p = write_aedat31(tmp_path / "davis.aedat", ev, 346, 260, camera="DAVIS346B")
    assert read_header(p).sensor_size == (346, 260, 2)
    p = write_aedat31(tmp_path / "odd.aedat", ev, 400, 300)
    rec = read_events(p)
    assert rec.sensor_size == (400, 300, 2) and "Sensor-Size" in rec.meta["sensor_size_source"]
    raw = p.read_bytes().replace(b"#Sensor-Size: 400x300\r\n", b"")
    q = tmp_path / "unknown.aedat"
    q.write_bytes(raw)
    rec = read_events(q)
    assert rec.sensor_size == (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1, 2)
    assert "max(x)+1" in rec.meta["sensor_size_source"]
    assert read_header(q).sensor_size == rec.sensor_size


def test_event_outside_named_sensor_is_a_format_error(tmp_path: Path):
    p = tmp_path / "bad.aedat"
    p.write_bytes(HEADER + _packet(1, 8, 4, 0, 1, 1, 1, _pol(200, 3, 1, 9)))
    with pytest.raises(FormatError) as e:
        read_events(p)
    assert e.value.offset == len(HEADER) + 28 and "x=200" in str(e.value)


@pytest.mark.parametrize(
    "body, offset, words",
    [
        (_packet(1, 8, 4, 0, 3, 3, 3, _pol(1, 1, 1, 1)), 0, "truncated packet"),  # body cut short
        (_packet(1, 8, 4, 0, 1, 1, 1, _pol(1, 1, 1, 1)) + b"\x01\x00\x01", 36, "28-byte header"),
        (_packet(1, 16, 4, 0, 1, 1, 1, bytes(16)), 0, "expected eventSize 8"),
        (_packet(1, 8, 4, 0, 1, 2_000_000_000, 1, _pol(1, 1, 1, 1)), 0, "truncated packet"),  # huge eventNumber
        (_packet(3, 0, 4, 0, 1, 1, 1), 0, "corrupt packet header"),
        (_packet(1, 8, 4, -5, 1, 1, 1, _pol(1, 1, 1, 1)), 0, "eventTSOverflow"),
    ],
)
def test_corrupt_packets_raise_with_offset(tmp_path: Path, body, offset, words):
    p = tmp_path / "corrupt.aedat"
    p.write_bytes(HEADER + body)
    for fn in (read_events, lambda q: list(iter_events(q, 2))):
        with pytest.raises(FormatError) as e:
            fn(p)
        assert e.value.offset == len(HEADER) + offset
        assert words in str(e.value) and "corrupt.aedat" in str(e.value)


def test_aedat30_header_without_end_marker(tmp_path: Path):
    p = tmp_path / "v30.aedat"
    p.write_bytes(b"#!AER-DAT3.0\r\n#Source 1: DVS128\r\n" + _packet(1, 8, 4, 0, 1, 1, 1, _pol(4, 5, 0, 77)))
    rec = read_events(p)
    assert rec.format == "AEDAT 3.0" and rec.meta["origin"] == "bottom-left"
    assert [tuple(int(v) for v in e) for e in rec.events] == [(77, 4, 5, 0)]


def test_header_only_and_31_without_end_marker(tmp_path: Path):
    p = tmp_path / "empty.aedat"
    p.write_bytes(HEADER)
    assert len(read_events(p)) == 0 and list(iter_events(p)) == []
    q = tmp_path / "noend.aedat"
    q.write_bytes(b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n" + _packet(1, 8, 4, 0, 1, 1, 1, _pol(4, 5, 0, 77)))
    with pytest.raises(FormatError, match="END-HEADER"):
        read_events(q)


def test_writer_rejects_bad_input(tmp_path: Path):
    ev = _events(10)
    with pytest.raises(EventValidationError):
        write_aedat31(tmp_path / "a.aedat", ev, 64, 64)  # x outside the sensor
    with pytest.raises(EventValidationError):
        write_aedat31(tmp_path / "a.aedat", ev, 128, 128, packet_sizes=[3, 3])
    with pytest.raises(EventValidationError, match="overflow"):
        write_aedat31(tmp_path / "a.aedat", make_events([(1 << 31) - 1, 1 << 31], [0, 0], [0, 0], [0, 1]),
                      packet_sizes=[2])
    assert not (tmp_path / "a.aedat").exists()
    assert sniff_format(write_aedat31(tmp_path / "ok.aedat", ev)).name == "AEDAT 3.x"
