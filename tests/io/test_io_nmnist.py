"""N-MNIST .bin: record layout, overflow records, strict sniffing, tonic parity on the real sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventar.errors import UnknownFormatError
from eventar.io import iter_events, read_events, read_header, sniff_format


def _rec(x, y, p, t) -> bytes:
    return bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])


def test_golden_records_and_overflow(tmp_path: Path):
    p = tmp_path / "digit.bin"
    p.write_bytes(_rec(7, 15, 1, 654) + _rec(19, 18, 0, 2999) + _rec(33, 0, 1, (1 << 23) - 1)
                  + _rec(0, 240, 0, 0) + _rec(1, 2, 0, 10) + _rec(3, 4, 1, 11))
    rec = read_events(p)
    assert rec.format == "N-MNIST binary" and rec.sensor_size == (34, 34, 2)
    assert [tuple(int(v) for v in e) for e in rec.events] == [
        (654, 7, 15, 1), (2999, 19, 18, 0), ((1 << 23) - 1, 33, 0, 1), ((1 << 23) + 10, 1, 2, 0), ((1 << 23) + 11, 3, 4, 1)]
    assert np.array_equal(np.concatenate(list(iter_events(p, 2))), rec.events)


def test_larger_sensor_uses_max_plus_one(tmp_path: Path):
    p = tmp_path / "caltech.bin"
    p.write_bytes(b"".join(_rec(x, y, 0, 10 * i) for i, (x, y) in enumerate([(0, 0), (200, 10), (5, 150), (1, 1)])))
    rec = read_events(p)
    assert rec.sensor_size == (201, 151, 2) and "max(x)+1" in rec.meta["sensor_size_source"]
    assert read_header(p).sensor_size == rec.sensor_size


@pytest.mark.parametrize(
    "content",
    [
        b"hello world, plain text!" * 5,  # printable text, multiple of 5
        b"".join(_rec(1, 1, 0, t) for t in (50, 40, 30, 20)),  # time runs backwards
        b"".join(_rec(1, 241, 0, t) for t in (1, 2, 3, 4)),  # y > 240
        b"".join(_rec(1, 1, 0, t) for t in (1, 2, 3, 4)) + b"\x00",  # size not a multiple of 5
        b"".join(_rec(1, 1, 0, t) for t in (1, 2)),  # fewer than 4 records
    ],
)
def test_strict_sniff_refuses_lookalikes(tmp_path: Path, content):
    p = tmp_path / "x.bin"
    p.write_bytes(content)
    with pytest.raises(UnknownFormatError):
        sniff_format(p)


def test_real_sample_matches_tonic(real_dir: Path):
    tio = pytest.importorskip("tonic.io")
    path = real_dir / "neuromorphs__tonic" / "sample_nmnist.bin"
    ref = tio.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    ev = read_events(path).events
    for f in "txyp":
        assert np.array_equal(ev[f].astype(np.int64), ref[f].astype(np.int64))
