"""N-MNIST / N-Caltech101 ATIS binary files (Orchard et al. 2015): headerless 5-byte records.

Record: byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity (1 = ON) and bits 0–6 = t[22:16],
bytes 3–4 = t[15:8], t[7:0] (µs).  A record with y == 240 marks an overflow of the 23-bit clock:
eventar adds 2^23 µs to every later timestamp.  (Orchard's reference code and tonic 1.7 add 2^13,
which makes time run backwards after an overflow; N-MNIST samples are ~300 ms long, so no real
sample has one.)  A step back in time is clamped to the running maximum.

**Sniffing a headerless format** cannot be certain, so this reader has the lowest priority and
accepts a file only when all of these hold: its size is a non-zero multiple of 5; it has at
least 4 records; it does not start like any other format (``#``, ``%``, ``\\x93NUMPY``, ``PK``,
``\\x89HDF``) and is not plain printable text; every record in the first 8 KiB has y <= 240; and
timestamps in those records never decrease except across an overflow record.  A truncated file
(size not a multiple of 5) is therefore *not recognised* (UnknownFormatError) rather than misread.

Sensor size: 34×34 (N-MNIST) when every x and y is below 34, else max(x)+1 × max(y)+1
(N-Caltech101 images vary in size), stated in ``meta['sensor_size_source']``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._registry import FormatReader

FORMAT = "N-MNIST binary"
NMNIST_SIZE = (34, 34)
_OTHER_MAGICS = (b"#", b"%", b"\x93NUMPY", b"PK", b"\x89HDF")
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"


def _sniff(head: bytes, path: Path) -> bool:
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if size == 0 or size % 5 or len(head) < 20 or head.startswith(_OTHER_MAGICS):
        return False
    if not head.translate(None, _PRINTABLE):
        return False  # plain text
    n = len(head) // 5
    rec = np.frombuffer(head[: 5 * n], dtype=np.uint8).reshape(n, 5).astype(np.int64)
    y = rec[:, 1]
    if (y > 240).any():
        return False
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    epoch = np.cumsum(y == 240)
    keep = y != 240
    full = (epoch << 23) | t
    return bool((np.diff(full[keep]) >= 0).all())


def _decode(path: Path, chunk_records: int) -> Iterator[np.ndarray]:
    from .._decode_aedat import decode_nmnist

    size = path.stat().st_size
    if size % 5:
        raise FormatError(path, f"truncated: {size % 5} bytes after the last whole 5-byte record", size - size % 5)
    if size == 0:
        return
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    state = np.zeros(3, dtype=np.int64)
    n = size // 5
    for r0 in range(0, n, chunk_records):
        r1 = min(n, r0 + chunk_records)
        out = np.empty(r1 - r0, dtype=EVENT_DTYPE)
        k = decode_nmnist(mm[5 * r0: 5 * r1], out, state)
        if k:
            yield out[:k]


def _size(events: np.ndarray) -> tuple:
    if not len(events):
        return NMNIST_SIZE, "N-MNIST 34x34 (no events)"
    mx, my = int(events["x"].max()), int(events["y"].max())
    if mx < 34 and my < 34:
        return NMNIST_SIZE, "N-MNIST 34x34 (every x, y < 34)"
    return (mx + 1, my + 1), "max(x)+1, max(y)+1 over the events (larger than N-MNIST's 34x34)"


def _read(path: Path) -> Recording:
    parts = list(_decode(path, max(1, path.stat().st_size // 5)))
    events = parts[0] if parts else np.zeros(0, EVENT_DTYPE)
    (w, h), how = _size(events)
    return Recording(events, w, h, FORMAT, "ATIS", 0, {"sensor_size_source": how, "source_file": str(path)})


def _header(path: Path) -> Recording:
    mx = my = -1
    for ev in _decode(path, 1 << 20):
        mx, my = max(mx, int(ev["x"].max())), max(my, int(ev["y"].max()))
    probe = np.zeros(1 if mx >= 0 else 0, EVENT_DTYPE)
    if mx >= 0:
        probe["x"], probe["y"] = mx, my
    (w, h), how = _size(probe)
    return Recording(np.zeros(0, EVENT_DTYPE), w, h, FORMAT, "ATIS", 0, {"sensor_size_source": how, "source_file": str(path)})


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    yield from _decode(path, int(chunk_events))


READERS = [FormatReader(FORMAT, _sniff, _header, _chunks, read=_read, priority=-100)]
