"""AEDAT 3.0 / 3.1 (cAER; DVS128 Gesture ships 3.1): ``#`` header, then little-endian event packets.

The header runs through ``#!END-HEADER\\r\\n`` (3.1) or to the first non-``#`` line (3.0).  Each
packet is a 28-byte header (int16 eventType, int16 eventSource, int32 eventSize, int32
eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid)
followed by **eventNumber** × eventSize bytes.  eventar:

* decodes polarity packets only (eventType 1, which must have eventSize 8 / eventTSOffset 4) and
  jumps over every other packet type by its header;
* uses eventNumber, never eventCapacity (tonic 1.7 reads capacity events per packet);
* drops events whose valid bit (bit 0 of the data word) is 0;
* builds 64-bit time as ``eventTSOverflow << 31 | timestamp`` (31-bit timestamps), so recordings
  longer than 35.8 minutes stay right; a step back in time is clamped to the running maximum.

Polarity data word: bit 1 polarity (1 = ON), bits 2–16 y, bits 17–31 x.  Coordinates are
returned as stored (3.1's origin is the top-left pixel; 3.0's is bottom-left, noted in
``meta['origin']``).

**Sensor size**: from the ``#Source <id>: <camera>`` line (``DVS128`` → 128×128, ``DAVIS240C`` →
240×180, ``DAVIS346`` → 346×260, ... see :data:`eventar.io.aedat_write.AEDAT3_KNOWN_SOURCES`), or
from a ``#Sensor-Size: WxH`` line (written by :func:`eventar.io.aedat_write.write_aedat31` for
cameras it cannot name).  When neither tells, eventar scans the events and uses max(x)+1 ×
max(y)+1, saying so in ``meta['sensor_size_source']``; with a known sensor, an event outside it
is a :class:`~eventar.errors.FormatError` naming its byte offset.

Corrupt files raise :class:`~eventar.errors.FormatError` with the byte offset of the bad packet
header; no allocation is ever sized by a header field before it has been checked against the
file size.  Decoding is numba over a memory map (:mod:`eventar.io._decode_aedat`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, Optional

import numpy as np

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._decode_header import split_hash_header
from .._registry import FormatReader
from ..aedat_write import aedat3_source_size

MAGIC = b"#!AER-DAT3."
TABLE_ROWS = 1 << 14
"""Polarity packets described per header scan (bounds the packet table's memory)."""

_SOURCE = re.compile(r"^#-?Source\s+(\d+)\s*:\s*(.+?)\s*$")
_SIZE = re.compile(r"^#-?Sensor-Size\s*:\s*(\d+)\s*x\s*(\d+)\s*$", re.I)


def _sniff(head: bytes, path: Path) -> bool:
    return head.startswith(MAGIC)


def _info(path: Path) -> Dict:
    lines, start = split_hash_header(path, end_marker=b"#!END-HEADER")
    if not lines or not lines[0].startswith("#!AER-DAT3."):
        raise FormatError(path, "expected '#!AER-DAT3.x' on the first line", 0)
    version = lines[0][len("#!AER-DAT"):].strip()
    if version not in ("3.0", "3.1"):
        raise FormatError(path, f"AEDAT version '{version}' (eventar reads 3.0 and 3.1)", 0)
    meta: Dict = {"version": version, "header_bytes": start, "header": lines,
                  "origin": "top-left" if version == "3.1" else "bottom-left"}
    if version == "3.1" and lines[-1].strip() != "#!END-HEADER":
        raise FormatError(path, "AEDAT 3.1 header does not end with '#!END-HEADER'", start)
    camera = ""
    size: Optional[tuple] = None
    for line in lines:
        m = _SOURCE.match(line)
        if m and not camera:
            camera = m.group(2)
            meta["source_id"] = int(m.group(1))
        m = _SIZE.match(line)
        if m:
            size = (int(m.group(1)), int(m.group(2)))
            meta["sensor_size_source"] = "header '#Sensor-Size' line"
        elif line.startswith("#Start-Time:"):
            meta["start_time"] = line[len("#Start-Time:"):].strip()
    if size is None and camera:
        size = aedat3_source_size(camera)
        if size is not None:
            meta["sensor_size_source"] = f"camera '{camera}'"
    return {"start": start, "size": path.stat().st_size, "camera": camera, "wh": size, "meta": meta,
            "format": f"AEDAT {version}"}


def _header_field_text(buf: np.ndarray, pos: int) -> str:
    h = np.frombuffer(bytes(buf[pos: pos + 28]), dtype="<i4", count=7, offset=0) if pos + 28 <= buf.shape[0] else None
    if h is None:
        return ""
    etype = int(h[0]) & 0xFFFF
    return (f"eventType={etype - 65536 if etype >= 32768 else etype}, eventSize={int(h[1])}, eventTSOffset={int(h[2])}, "
            f"eventTSOverflow={int(h[3])}, eventCapacity={int(h[4])}, eventNumber={int(h[5])}, eventValid={int(h[6])}")


def _tables(path: Path, buf: np.ndarray, start: int) -> Iterator[tuple]:
    """Yield (table, rows) blocks of polarity packets; raise at the first corrupt packet header."""
    from .. import _decode_aedat as dec

    table = np.empty((TABLE_ROWS, dec.PACKET_COLUMNS), dtype=np.int64)
    counts = np.zeros(2, dtype=np.int64)
    pos = start
    end = buf.shape[0]
    while pos < end:
        rows, pos, err, errpos = dec.scan_aedat3(buf, pos, table, counts)
        if rows:
            yield table, rows
        if err == dec.ERR_NONE:
            continue
        left = end - errpos
        if err == dec.ERR_SHORT_HEADER:
            msg = f"truncated packet header: {left} bytes left, expected a 28-byte header"
        elif err == dec.ERR_SHORT_BODY:
            msg = (f"truncated packet: {_header_field_text(buf, errpos)}; its eventNumber × eventSize body needs more "
                   f"than the {left - 28} bytes left in the file")
        elif err == dec.ERR_BAD_POLARITY:
            msg = f"polarity packet with {_header_field_text(buf, errpos)}; expected eventSize 8 and eventTSOffset 4"
        else:
            msg = (f"corrupt packet header ({_header_field_text(buf, errpos)}); expected eventSize > 0, "
                   f"0 <= eventTSOffset <= eventSize - 4, eventTSOverflow >= 0, 0 <= eventValid <= eventNumber")
        raise FormatError(path, msg, int(errpos))


def _decode(path: Path, info: Dict, chunk_events: int, wh: Optional[tuple]) -> Iterator[tuple]:
    """Yield (events, state) chunks of at most ``chunk_events`` events."""
    from .. import _decode_aedat as dec

    if info["size"] <= info["start"]:
        return
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    w, h = wh if wh is not None else (0, 0)
    state = dec.aedat3_state()
    for table, rows in _tables(path, buf, info["start"]):
        state[dec.S3_ROW] = 0
        state[dec.S3_EVENT] = 0
        while state[dec.S3_ROW] < rows:
            out = np.empty(chunk_events, dtype=EVENT_DTYPE)
            k = dec.decode_aedat3(buf, table, rows, w, h, out, state)
            _check_bad(path, buf, state, w, h)
            if k:
                yield out[:k], state


def _check_bad(path: Path, buf: np.ndarray, state: np.ndarray, w: int, h: int) -> None:
    from .. import _decode_aedat as dec

    j = int(state[dec.S3_BAD])
    if j >= 0:
        data = int.from_bytes(bytes(buf[j: j + 4]), "little")
        raise FormatError(path, f"polarity event x={(data >> 17) & 0x7FFF}, y={(data >> 2) & 0x7FFF} is outside the "
                                f"{w}x{h} sensor named in the header", j)


def _scan_size(path: Path, info: Dict) -> tuple:
    """max(x)+1, max(y)+1 over all events (used only when the header names no sensor)."""
    mx = my = -1
    for ev, _ in _decode(path, info, 1 << 20, None):
        mx = max(mx, int(ev["x"].max()))
        my = max(my, int(ev["y"].max()))
    return (mx + 1, my + 1) if mx >= 0 else (0, 0)


def _resolve_size(path: Path, info: Dict, events: Optional[np.ndarray] = None) -> tuple:
    if info["wh"] is not None:
        return info["wh"]
    info["meta"]["sensor_size_source"] = "max(x)+1, max(y)+1 over the events (the header names no known camera)"
    if events is not None:
        return (int(events["x"].max()) + 1, int(events["y"].max()) + 1) if len(events) else (0, 0)
    return _scan_size(path, info)


def _header(path: Path) -> Recording:
    info = _info(path)
    w, h = _resolve_size(path, info)
    meta = dict(info["meta"], source_file=str(path))
    return Recording(np.zeros(0, EVENT_DTYPE), w, h, info["format"], info["camera"], 0, meta)


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    info = _info(path)
    for ev, _ in _decode(path, info, int(chunk_events), info["wh"]):
        yield ev


def _read(path: Path) -> Recording:
    from .. import _decode_aedat as dec

    info = _info(path)
    meta = dict(info["meta"], source_file=str(path))
    if info["size"] <= info["start"]:
        events = np.zeros(0, EVENT_DTYPE)
        meta.update(n_invalid=0, n_clamped=0)
    else:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
        total = sum(int(t[:r, 1].sum()) for t, r in _tables(path, buf, info["start"]))
        events = np.empty(total, dtype=EVENT_DTYPE)
        w, h = info["wh"] if info["wh"] is not None else (0, 0)
        state = dec.aedat3_state()
        k = 0
        for table, rows in _tables(path, buf, info["start"]):
            state[dec.S3_ROW] = 0
            state[dec.S3_EVENT] = 0
            k += dec.decode_aedat3(buf, table, rows, w, h, events[k:], state)
            _check_bad(path, buf, state, w, h)
        events = events[:k]
        meta.update(n_invalid=int(state[dec.S3_INVALID]), n_clamped=int(state[dec.S3_CLAMPED]))
    w, h = _resolve_size(path, info, events)
    meta["sensor_size_source"] = info["meta"].get("sensor_size_source", meta.get("sensor_size_source"))
    return Recording(events, w, h, info["format"], info["camera"], 0, meta)


READERS = [FormatReader("AEDAT 3.x", _sniff, _header, _chunks, read=_read, priority=10)]
