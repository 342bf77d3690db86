"""AEDAT 4.0 through the aedat package: parity with the delegate, streams metadata, corrupt framing."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from eventar.errors import FormatError
from eventar.io import iter_events, read_events, read_header

DAVIS = "shiba24__event-vision-library/sample.aedat4"  # events + frames + IMU + triggers
DVX = "neuromorphs__tonic/sample.aedat4"


def test_parity_with_aedat_delegate(real_dir: Path):
    aedat = pytest.importorskip("aedat")
    for rel in (DAVIS, DVX):
        path = real_dir / rel
        dec = aedat.Decoder(str(path))
        ref = np.concatenate([p["events"] for p in dec if p["stream_id"] == 0 and "events" in p])
        ev = read_events(path).events
        assert len(ev) == len(ref)
        for ours, theirs in (("t", "t"), ("x", "x"), ("y", "y"), ("p", "on")):
            assert np.array_equal(ev[ours].astype(np.int64), ref[theirs].astype(np.int64)), (rel, ours)


def test_header_lists_every_stream(real_dir: Path):
    rec = read_header(real_dir / DAVIS)
    assert len(rec) == 0
    streams = rec.meta["streams"]
    assert {k: v["type"] for k, v in streams.items()} == {"0": "events", "1": "frame", "2": "imus", "3": "triggers"}
    assert streams["1"]["width"] == 346 and streams["0"]["source"] == "DAVIS346_00000002"
    assert rec.meta["ts_offset_us"] == 1589163005536052 and rec.meta["compression"] == "LZ4"
    assert rec.camera == "DAVIS346_00000002" and rec.sensor_size == (346, 260, 2)


def test_chunks_are_bounded_and_complete(real_dir: Path):
    path = real_dir / DVX
    whole = read_events(path).events
    parts = list(iter_events(path, 10_000))
    assert max(len(p) for p in parts) == 10_000 and all(len(p) > 0 for p in parts)
    assert np.array_equal(np.concatenate(parts), whole)


def _data_start(raw: bytes) -> int:
    return 18 + struct.unpack_from("<I", raw, 14)[0]


def test_truncated_file_names_packet_offset(real_dir: Path, tmp_path: Path):
    raw = (real_dir / DVX).read_bytes()
    start = _data_start(raw)
    first_size = struct.unpack_from("<I", raw, start + 4)[0]
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(raw[: start + 8 + first_size + 8 + 5])  # second packet's payload cut after 5 bytes
    with pytest.raises(FormatError) as e:
        read_events(cut)
    assert e.value.offset == start + 8 + first_size and "runs past the end" in str(e.value)


def test_ioheader_length_past_eof(real_dir: Path, tmp_path: Path):
    raw = bytearray((real_dir / DVX).read_bytes())
    raw[14:18] = struct.pack("<I", len(raw) * 4)
    p = tmp_path / "len.aedat4"
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError) as e:
        read_header(p)
    assert e.value.offset == 14


def test_corrupt_compressed_payload_is_a_format_error(real_dir: Path, tmp_path: Path):
    raw = bytearray((real_dir / DVX).read_bytes())
    start = _data_start(bytes(raw))
    size = struct.unpack_from("<I", raw, start + 4)[0]
    for i in range(start + 8, start + 8 + size):
        raw[i] ^= 0x5A  # scramble the whole first packet (LZ4 frame magic included)
    p = tmp_path / "scrambled.aedat4"
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError) as e:
        read_events(p)
    assert "scrambled.aedat4" in str(e.value)
