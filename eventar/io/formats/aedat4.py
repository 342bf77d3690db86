"""AEDAT 4.0 (iniVation DV) through the `aedat <https://github.com/neuromorphicsystems/aedat>`_ package.

Layout: ``#!AER-DAT4.0\\r\\n``, uint32 LE length L, an uncompressed IOHeader flatbuffer of L bytes
(compression codec, ``file_data_position``, and the DV XML description of every stream), then
packets ``int32 stream_id, uint32 size, size compressed bytes`` up to ``file_data_position``
(the optional file-data table) or the end of the file.

eventar parses the IOHeader and the XML itself (sensor size, camera = the events stream's
``source``, ``tsOffset``, every stream's type) and walks the packet framing before handing the
file to ``aedat.Decoder``: a packet running past the end of the file is a
:class:`~eventar.errors.FormatError` with its byte offset, so no corrupt length ever reaches the
decoder, and any error the decoder raises on a corrupt payload is re-raised as a FormatError.

Returned: the events of the lowest-id events stream (as tonic does), ``t`` in absolute µs
(``t_offset`` = 0); the other streams (frames, IMU, triggers) are listed in ``meta['streams']``
(for ``eventar info``), not decoded.  Iteration goes packet by packet, re-cut into chunks.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Iterator, List

import numpy as np

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._registry import FormatReader

FORMAT = "AEDAT 4.0"
MAGIC = b"#!AER-DAT4.0\r\n"
_COMPRESSION = {0: "none", 1: "LZ4", 2: "LZ4 high", 3: "Zstd", 4: "Zstd high"}
_TYPES = {"EVTS": "events", "FRME": "frame", "IMUS": "imus", "TRIG": "triggers"}


def _sniff(head: bytes, path: Path) -> bool:
    return head.startswith(MAGIC)


def _u(fmt: str, b: bytes, at: int, path: Path, what: str, base: int):
    size = struct.calcsize(fmt)
    if at < 0 or at + size > len(b):
        raise FormatError(path, f"IOHeader: {what} at {at} lies outside the {len(b)}-byte header", base + max(at, 0))
    return struct.unpack_from(fmt, b, at)[0]


def _io_header(path: Path, raw: bytes) -> Dict:
    """Decode the IOHeader flatbuffer fields: compression, file_data_position, description."""
    base = 18
    root = _u("<I", raw, 0, path, "root offset", base)
    vt = root - _u("<i", raw, root, path, "vtable offset", base)
    vsize = _u("<H", raw, vt, path, "vtable size", base)
    nfields = max(0, (vsize - 4) // 2)
    offs = [_u("<H", raw, vt + 4 + 2 * i, path, "vtable entry", base) for i in range(min(nfields, 3))]
    offs += [0] * (3 - len(offs))
    comp = _u("<i", raw, root + offs[0], path, "compression", base) if offs[0] else 0
    fdp = _u("<q", raw, root + offs[1], path, "file_data_position", base) if offs[1] else -1
    desc = ""
    if offs[2]:
        at = root + offs[2]
        s = at + _u("<I", raw, at, path, "description offset", base)
        n = _u("<I", raw, s, path, "description length", base)
        if s + 4 + n > len(raw):
            raise FormatError(path, f"IOHeader: description of {n} bytes runs past the header", base + s)
        desc = raw[s + 4: s + 4 + n].decode("utf-8", "replace")
    if comp not in _COMPRESSION:
        raise FormatError(path, f"IOHeader: unknown compression code {comp} (expected 0-4)", base)
    return {"compression": _COMPRESSION[comp], "file_data_position": int(fdp), "description": desc}


def _streams_from_xml(path: Path, desc: str) -> Dict[int, Dict]:
    """{stream id: {type, width, height, source, tsOffset, name}} from the DV XML description."""
    if not desc.strip():
        return {}
    try:
        root = ET.fromstring(desc)
    except ET.ParseError as e:
        raise FormatError(path, f"IOHeader description is not valid XML ({e})", 18) from None
    out: Dict[int, Dict] = {}
    for info in root.iter("node"):
        if info.get("name") != "outInfo":
            continue
        for node in info.findall("node"):
            if not re.fullmatch(r"-?\d+", node.get("name", "")):
                continue
            attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
            entry: Dict = {"type": _TYPES.get(attrs.get("typeIdentifier", ""), attrs.get("typeIdentifier", "")),
                           "name": attrs.get("originalOutputName", "")}
            sub = node.find("node[@name='info']")
            if sub is not None:
                ia = {a.get("key"): (a.text or "") for a in sub.findall("attr")}
                for key, conv, name in (("sizeX", int, "width"), ("sizeY", int, "height"), ("tsOffset", int, "ts_offset"),
                                        ("source", str, "source")):
                    if key in ia:
                        try:
                            entry[name] = conv(ia[key])
                        except ValueError:
                            raise FormatError(path, f"stream {node.get('name')}: {key} = {ia[key]!r} is not a number", 18) from None
            out[int(node.get("name"))] = entry
    return out


def _info(path: Path) -> Dict:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(18)
        if len(head) < 18 or not head.startswith(MAGIC):
            raise FormatError(path, "expected '#!AER-DAT4.0\\r\\n' and a 4-byte IOHeader length", 0)
        n = struct.unpack_from("<I", head, 14)[0]
        if 18 + n > size:
            raise FormatError(path, f"IOHeader length {n} runs past the end of the {size}-byte file", 14)
        raw = f.read(n)
    io = _io_header(path, raw)
    streams = _streams_from_xml(path, io["description"])
    start = 18 + n
    fdp = io["file_data_position"]
    limit = fdp if start <= fdp <= size else size
    n_packets = _walk_packets(path, start, limit)
    ev_ids = sorted(i for i, s in streams.items() if s["type"] == "events")
    meta = {"compression": io["compression"], "file_data_position": fdp, "n_packets": n_packets,
            "streams": {str(i): s for i, s in sorted(streams.items())}}
    if not ev_ids:
        raise FormatError(path, "the file has no events stream (typeIdentifier EVTS) in its IOHeader", 18)
    sid = ev_ids[0]
    st = streams[sid]
    if "width" not in st or "height" not in st:
        raise FormatError(path, f"events stream {sid} has no sizeX/sizeY in the IOHeader description", 18)
    meta["events_stream"] = sid
    if "ts_offset" in st:
        meta["ts_offset_us"] = st["ts_offset"]
    return {"size": size, "start": start, "limit": limit, "stream": sid, "width": st["width"], "height": st["height"],
            "camera": st.get("source", ""), "meta": meta}


def _walk_packets(path: Path, start: int, limit: int) -> int:
    """Check that packet headers chain exactly from ``start`` to ``limit``; return the packet count."""
    if limit <= start:
        return 0
    from .._decode_aedat import walk_aedat4

    mm = np.memmap(path, dtype=np.uint8, mode="r")
    n, bad, size = walk_aedat4(mm, start, limit)
    if bad >= 0 and size < 0:
        raise FormatError(path, f"truncated packet header: {limit - bad} bytes left, expected 8 (stream id, size)", int(bad))
    if bad >= 0:
        raise FormatError(path, f"packet of {size} bytes runs past the end of the data ({limit - bad - 8} bytes left)", int(bad))
    return int(n)


def _decoder_packets(path: Path, sid: int) -> Iterator[np.ndarray]:
    """aedat's event arrays of stream ``sid``, with its errors turned into FormatError."""
    import aedat

    try:
        dec = aedat.Decoder(str(path))
        for packet in dec:
            if packet["stream_id"] == sid and "events" in packet:
                yield packet["events"]
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except FormatError:
        raise
    except BaseException as e:  # aedat raises plain exceptions, and pyo3 panics derive from BaseException
        raise FormatError(path, f"aedat could not decode a packet: {type(e).__name__}: {e}") from None


def _convert(parts: List[np.ndarray], n: int) -> np.ndarray:
    out = np.empty(n, dtype=EVENT_DTYPE)
    k = 0
    for a in parts:
        m = a.shape[0]
        dst = out[k: k + m]
        dst["t"] = a["t"]
        dst["x"] = a["x"]
        dst["y"] = a["y"]
        dst["p"] = a["on"]
        k += m
    return out


def _check(path: Path, events: np.ndarray, info: Dict) -> None:
    if len(events) and (int(events["x"].max()) >= info["width"] or int(events["y"].max()) >= info["height"]):
        raise FormatError(path, f"an event lies outside the {info['width']}x{info['height']} sensor the IOHeader declares")


def _header(path: Path) -> Recording:
    info = _info(path)
    return Recording(np.zeros(0, EVENT_DTYPE), info["width"], info["height"], FORMAT, info["camera"], 0,
                     dict(info["meta"], source_file=str(path)))


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    info = _info(path)
    pending: List[np.ndarray] = []
    n = 0
    for a in _decoder_packets(path, info["stream"]):
        pending.append(_convert([a], a.shape[0]))
        n += a.shape[0]
        if n < chunk_events:
            continue
        cat = np.concatenate(pending) if len(pending) > 1 else pending[0]
        _check(path, cat, info)
        i = 0
        while n - i >= chunk_events:
            yield cat[i: i + chunk_events]
            i += chunk_events
        rest = cat[i:]
        pending, n = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
    if n:
        cat = np.concatenate(pending)
        _check(path, cat, info)
        yield cat


def _read(path: Path) -> Recording:
    info = _info(path)
    parts = list(_decoder_packets(path, info["stream"]))
    events = _convert(parts, sum(a.shape[0] for a in parts))
    _check(path, events, info)
    return Recording(events, info["width"], info["height"], FORMAT, info["camera"], 0, dict(info["meta"], source_file=str(path)))


READERS = [FormatReader(FORMAT, _sniff, _header, _chunks, read=_read, priority=10)]
