"""Prophesee files: DAT (``% ...`` header, 8-byte CD / Event2D records) and RAW EVT 2.0 / 3.0.

* **RAW (EVT 2.0, 3.0)** is decoded by `faery <https://github.com/aestream/faery>`_, the
  maintained reader that gets EVT 3.0 time right: where TIME_LOW steps back by a few µs inside
  one TIME_HIGH period it keeps ``t`` monotonic instead of inventing a 4096 µs overflow (what
  expelliarmus 1.1 does).  eventar parses the ``%`` header itself (version, sensor size, camera)
  and streams faery's packets re-cut into chunks of the requested size.  EVT 2.1 is refused with
  a clear error (faery 0.7 does not decode it yet).
* **DAT** is decoded here in one compiled (numba) pass over a memory map: faery refuses Event2D
  (type 0) files such as N-CARS'.  Each record is ``uint32 t; uint32 data`` little-endian with ``x = data & 0x3FFF``,
  ``y = (data >> 14) & 0x3FFF`` and ``p = data >> 28``.  A backwards jump of more than 2^31 µs is a
  wrap of the 32-bit clock and is unfolded; any other step back is clamped to the running maximum
  (the same policy as faery's EVT decoder), so ``t`` never decreases.

Sensor size comes from the header: ``% geometry WxH``, ``% format EVT3;width=W;height=H``,
``% Width`` / ``% Height`` (DAT), else from the plugin name (Gen4.1 / IMX636 = 1280×720,
Gen3 = 640×480, GenX320 = 320×320), else, for DAT files that carry no geometry (Gen1 ATIS
``Event2D`` files such as N-CARS'), the ATIS sensor 304×240.  A RAW file whose size cannot be
told raises :class:`~eventar.errors.FormatError` rather than guessing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from numba import njit

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._registry import FormatReader

HEADER_LIMIT = 1 << 20
"""Longest ``%`` header eventar accepts (bytes); real headers are well under 4 KiB."""

DAT_CD_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
"""DAT event-type byte -> record name; both use the same 8-byte layout."""

ATIS_SIZE = (304, 240)
"""Gen1 ATIS sensor (W, H), used for DAT files whose header has no geometry."""

_PLUGIN_SIZES = (  # plugin / generation names -> (W, H); first match wins
    (re.compile(r"gen4|imx636|imx646|evk4", re.I), (1280, 720)),  # Gen4, Gen4.1, IMX636/646 (HD)
    (re.compile(r"genx320|imx\D*320", re.I), (320, 320)),
    (re.compile(r"gen3", re.I), (640, 480)),  # Gen3 / Gen3.1 VGA
)
_PLUGIN_VERSIONS = (
    (re.compile(r"gen4[._]?1|imx636|imx646|evk4", re.I), "evt3"),
    (re.compile(r"gen3", re.I), "evt2"),
)
_RAW_KEYS = {"evt", "format", "plugin_name", "integrator_name", "camera_integrator_name", "serial_number", "system_id", "geometry", "sensor_generation", "end"}
_VERSION_NAMES = {"evt2": "Prophesee RAW EVT2", "evt2.1": "Prophesee RAW EVT2.1", "evt3": "Prophesee RAW EVT3"}


# --------------------------------------------------------------------------------------- header
def _split_header(head: bytes) -> Tuple[List[str], int, bool]:
    """Split the leading ``%`` lines of ``head``.

    Returns:
        (lines without the ``%`` and surrounding blanks, byte offset where the binary data starts,
        whether the header ended inside ``head`` (False = it may continue past ``head``)).
    """
    lines: List[str] = []
    pos = 0
    n = len(head)
    while pos < n and head[pos] == 0x25:  # '%'
        nl = head.find(b"\n", pos)
        if nl < 0:
            return lines, pos, False
        text = head[pos + 1 : nl].decode("latin-1").strip()
        lines.append(text)
        pos = nl + 1
        if text.lower() == "end":
            break
    return lines, pos, True


def _header_dict(lines: List[str]) -> Dict[str, str]:
    """``key value`` header lines -> {lowercase key: value} (first occurrence wins)."""
    out: Dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        out.setdefault(key.lower(), value.strip())
    return out


def _kind(head: bytes) -> Optional[str]:
    """``'raw'``, ``'dat'`` or None from the first bytes of a file."""
    if not head.startswith(b"%"):
        return None
    lines, _, _ = _split_header(head)
    if not lines:
        return None
    keys = {line.partition(" ")[0].lower() for line in lines}
    low = " ".join(lines).lower()
    if keys & _RAW_KEYS or "format evt" in low:
        return "raw"
    if "data file containing" in low or keys & {"version", "height", "width", "date"}:
        return "dat"
    return None


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEADER_LIMIT)
    except OSError as e:
        raise FormatError(path, f"cannot open: {e.strerror or e}") from None


def _size_from(fields: Dict[str, str], lines: List[str]) -> Tuple[Optional[Tuple[int, int]], str]:
    """(W, H) and where it came from, or (None, '') when the header does not say."""
    geo = fields.get("geometry", "")
    m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", geo)
    if m:
        return (int(m.group(1)), int(m.group(2))), "% geometry"
    fmt = fields.get("format", "")
    w = re.search(r"width=(\d+)", fmt, re.I)
    h = re.search(r"height=(\d+)", fmt, re.I)
    if w and h:
        return (int(w.group(1)), int(h.group(1))), "% format"
    if "width" in fields and "height" in fields:
        try:
            return (int(fields["width"]), int(fields["height"])), "% Width/% Height"
        except ValueError:
            pass
    plugin = fields.get("plugin_name", "") + " " + fields.get("sensor_generation", "")
    for pattern, size in _PLUGIN_SIZES:
        if pattern.search(plugin):
            return size, f"plugin {plugin.strip()!r}"
    return None, ""


def _raw_version(path: Path, fields: Dict[str, str], data_start: int) -> str:
    evt = fields.get("evt", "").strip()
    if evt in ("2.0", "2"):
        return "evt2"
    if evt in ("2.1", "21"):
        return "evt2.1"
    if evt in ("3.0", "3"):
        return "evt3"
    fmt = fields.get("format", "").split(";")[0].strip().upper()
    if fmt in ("EVT2", "EVT20"):
        return "evt2"
    if fmt in ("EVT21", "EVT2.1"):
        return "evt2.1"
    if fmt in ("EVT3", "EVT30"):
        return "evt3"
    if evt or fmt:
        raise FormatError(path, f"unsupported encoding ('% evt {evt}' / '% format {fmt}'); eventar reads EVT 2.0, 2.1 and 3.0", 0)
    plugin = fields.get("plugin_name", "")
    for pattern, version in _PLUGIN_VERSIONS:
        if pattern.search(plugin):
            return version
    raise FormatError(path, "RAW header names no encoding ('% evt X' or '% format EVTx') and no known plugin_name", data_start)


def _camera(fields: Dict[str, str]) -> str:
    parts = [fields.get(k, "") for k in ("plugin_name", "serial_number")]
    return "_".join(p for p in parts if p)


def _raw_header(path: Path) -> Tuple[Recording, str, int]:
    head = _read_head(path)
    lines, data_start, complete = _split_header(head)
    if not complete:
        raise FormatError(path, f"'%' header line does not end (no newline within {HEADER_LIMIT} bytes)", data_start)
    fields = _header_dict(lines)
    version = _raw_version(path, fields, data_start)
    if version == "evt2.1":
        raise FormatError(path, "EVT 2.1 is not supported yet (faery 0.7, the delegate decoder, does not decode it); "
                                "eventar reads EVT 2.0 and EVT 3.0", 0)
    size, size_src = _size_from(fields, lines)
    if size is None:
        raise FormatError(
            path, "RAW header gives no sensor size ('% geometry WxH', '% format ...;width=W;height=H' or a known plugin_name)", 0
        )
    meta = {"header": ["% " + line for line in lines], "data_offset": data_start, "encoding": version,
            "sensor_size_source": size_src, "source_file": str(path), "reader": "faery"}
    rec = Recording(np.zeros(0, EVENT_DTYPE), size[0], size[1], _VERSION_NAMES[version], _camera(fields), 0, meta)
    return rec, version, data_start


def _dat_header(path: Path) -> Tuple[Recording, int]:
    head = _read_head(path)
    lines, pos, complete = _split_header(head)
    if not complete:
        raise FormatError(path, f"'%' header line does not end (no newline within {HEADER_LIMIT} bytes)", pos)
    if len(head) < pos + 2:
        raise FormatError(path, "file ends before the DAT event-type and event-size bytes", pos)
    ev_type, ev_size = head[pos], head[pos + 1]
    if ev_type not in DAT_CD_TYPES:
        raise FormatError(path, f"DAT event type {ev_type:#04x} is not a CD event (expected 0x00 Event2D or 0x0C EventCD)", pos)
    if ev_size != 8:
        raise FormatError(path, f"DAT event size byte is {ev_size}, expected 8", pos + 1)
    fields = _header_dict(lines)
    size, size_src = _size_from(fields, lines)
    if size is None:
        size, size_src = ATIS_SIZE, "ATIS Gen1 default (header has no geometry)"
    version = fields.get("version", "1")
    name = f"Prophesee DAT v{version} ({DAT_CD_TYPES[ev_type]})"
    meta = {"header": ["% " + line for line in lines], "data_offset": pos + 2, "event_type_byte": ev_type,
            "event_size_byte": ev_size, "sensor_size_source": size_src, "source_file": str(path)}
    m = re.search(r"containing\s+(\S+)\s+events", " ".join(lines), re.I)
    if m:
        meta["event_class"] = m.group(1)
    camera = "Chronocam ATIS" if "chronocam" in " ".join(lines).lower() else ""
    return Recording(np.zeros(0, EVENT_DTYPE), size[0], size[1], name, camera, 0, meta), pos + 2


# ------------------------------------------------------------------------------------------ DAT
def _dat_body(path: Path, start: int) -> np.ndarray:
    """(N, 2) uint32 memory map of the records (t, data); raises on a partial trailing record."""
    size = path.stat().st_size
    nbytes = size - start
    if nbytes % 8:
        n = nbytes // 8
        raise FormatError(path, f"truncated: {nbytes % 8} trailing bytes after {n} complete 8-byte records", start + 8 * n)
    n = nbytes // 8
    if n == 0:
        return np.zeros((0, 2), "<u4")
    return np.memmap(path, dtype="<u4", mode="r", offset=start, shape=(n, 2))


@njit(cache=True, nogil=True)
def _decode_dat_records(rec, width, height, out, state):  # pragma: no cover - compiled
    """Decode (n, 2) uint32 records (t, data) into ``out`` (EVENT_DTYPE) in one pass.

    ``state`` (int64[4]) = [wraps of the 32-bit clock so far, previous raw t (-1 = none),
    running max t, number of clamped step-backs], updated in place so chunks chain.
    Returns the index of the first record outside the sensor, or -1.
    """
    wraps = state[0]
    prev = state[1]
    last = state[2]
    clamped = state[3]
    bad = -1
    for i in range(rec.shape[0]):
        raw = np.int64(rec[i, 0])
        data = rec[i, 1]
        x = data & 0x3FFF
        y = (data >> 14) & 0x3FFF
        if x >= width or y >= height:
            bad = i
            break
        if prev >= 0 and prev - raw > 2147483648:
            wraps += 1
        prev = raw
        t = raw + (wraps << 32)
        if t < last:
            t = last
            clamped += 1
        last = t
        out[i].t = t
        out[i].x = x
        out[i].y = y
        out[i].p = 1 if (data >> 28) != 0 else 0
    state[0] = wraps
    state[1] = prev
    state[2] = last
    state[3] = clamped
    return bad


def _dat_state() -> np.ndarray:
    return np.array([0, -1, -(1 << 62), 0], np.int64)


def _decode_dat(path: Path, rec: np.ndarray, first: int, data_start: int, width: int, height: int,
                state: np.ndarray) -> np.ndarray:
    """Decode records ``rec`` ((n, 2) uint32) whose first is record number ``first``; raises on a
    coordinate outside the sensor (naming the event and its byte offset)."""
    out = np.empty(len(rec), EVENT_DTYPE)
    if len(rec) == 0:
        return out
    bad = _decode_dat_records(rec, width, height, out, state)
    if bad >= 0:
        x, y = int(rec[bad, 1] & 0x3FFF), int((rec[bad, 1] >> 14) & 0x3FFF)
        raise FormatError(path, f"event {first + bad}: (x, y) = ({x}, {y}) is outside the {width}x{height} sensor",
                          data_start + 8 * (first + bad))
    return out


def _dat_chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    head, start = _dat_header(path)
    body = _dat_body(path, start)
    state = _dat_state()
    for i in range(0, len(body), chunk_events):
        yield _decode_dat(path, np.asarray(body[i : i + chunk_events]), i, start, head.width, head.height, state)


def _dat_read(path: Path) -> Recording:
    head, start = _dat_header(path)
    body = _dat_body(path, start)
    state = _dat_state()
    ev = _decode_dat(path, np.asarray(body), 0, start, head.width, head.height, state)
    meta = dict(head.meta, n_clamped=int(state[3]))
    return Recording(ev, head.width, head.height, head.format, head.camera, 0, meta)


# ------------------------------------------------------------------------------------------ RAW
def _faery_packets(path: Path, version: str, size: Tuple[int, int], data_start: int) -> Iterator[np.ndarray]:
    """faery's event packets (structured ``t u8, x u2, y u2, on ?``), errors as FormatError."""
    try:
        import faery
    except ImportError as e:  # pragma: no cover - faery is a dependency
        raise FormatError(path, f"reading Prophesee RAW needs the 'faery' package ({e})") from None
    n = 0
    try:
        stream = faery.events_stream_from_file(path, file_type="evt", dimensions_fallback=size, version_fallback=version)
        for packet in stream:
            n += len(packet)
            yield packet
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:  # faery raises RuntimeError, and pyo3 PanicException (a BaseException)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(path, f"{_VERSION_NAMES[version]} data is corrupt after {n} decoded events (faery: {msg}); "
                                f"binary data starts at byte {data_start}", data_start) from None


_FAERY_LAYOUT = {"t": 0, "x": 8, "y": 10, "on": 12}


@njit(cache=True, nogil=True)
def _copy_faery_records(b, out, k0):  # pragma: no cover - compiled
    """Copy faery's packed records (``b``: (n, 13) uint8 = t u8, x u2, y u2, on bool, little-endian)
    into ``out[k0 : k0 + n]`` (EVENT_DTYPE) in one pass."""
    for i in range(b.shape[0]):
        t = np.int64(0)
        for j in range(8):
            t |= np.int64(b[i, j]) << (8 * j)
        out[k0 + i].t = t
        out[k0 + i].x = np.uint16(b[i, 8]) | (np.uint16(b[i, 9]) << 8)
        out[k0 + i].y = np.uint16(b[i, 10]) | (np.uint16(b[i, 11]) << 8)
        out[k0 + i].p = 1 if b[i, 12] else 0


def _fill(packet: np.ndarray, out: np.ndarray, k0: int) -> None:
    """Write faery's structured ``packet`` into ``out[k0 : k0 + len(packet)]``."""
    dt = packet.dtype
    fast = (dt.itemsize == 13 and packet.flags.c_contiguous and sys.byteorder == "little"
            and all(name in dt.fields and dt.fields[name][1] == off for name, off in _FAERY_LAYOUT.items()))
    if fast:
        _copy_faery_records(packet.view(np.uint8).reshape(-1, 13), out, k0)
        return
    sl = out[k0 : k0 + len(packet)]
    sl["t"] = packet["t"]
    sl["x"] = packet["x"]
    sl["y"] = packet["y"]
    sl["p"] = packet["on"]


def _raw_chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    head, version, start = _raw_header(path)
    buf = np.empty(chunk_events, EVENT_DTYPE)
    k = 0
    for packet in _faery_packets(path, version, (head.width, head.height), start):
        i = 0
        while i < len(packet):
            m = min(len(packet) - i, chunk_events - k)
            _fill(packet[i : i + m], buf, k)
            k += m
            i += m
            if k == chunk_events:
                yield buf
                buf = np.empty(chunk_events, EVENT_DTYPE)
                k = 0
    if k:
        yield buf[:k]


def _raw_read(path: Path) -> Recording:
    head, version, start = _raw_header(path)
    packets = list(_faery_packets(path, version, (head.width, head.height), start))
    ev = np.empty(sum(len(p) for p in packets), EVENT_DTYPE)
    k = 0
    for p in packets:  # one pass from faery's packets into the output: no intermediate concatenation
        _fill(p, ev, k)
        k += len(p)
    return Recording(ev, head.width, head.height, head.format, head.camera, 0, dict(head.meta))


READERS = [
    FormatReader(
        name="Prophesee RAW (EVT 2.0/2.1/3.0)",
        sniff=lambda head, path: _kind(head) == "raw",
        header=lambda path: _raw_header(Path(path))[0],
        chunks=_raw_chunks,
        read=_raw_read,
        priority=10,
    ),
    FormatReader(
        name="Prophesee DAT",
        sniff=lambda head, path: _kind(head) == "dat",
        header=lambda path: _dat_header(Path(path))[0],
        chunks=_dat_chunks,
        read=_dat_read,
        priority=10,
    ),
]
