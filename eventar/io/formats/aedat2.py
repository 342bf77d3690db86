"""AEDAT 2.0 (jAER): ``#`` text header, then 8-byte big-endian records (uint32 address, uint32 µs).

Address layouts follow jAER's extractors, the program that wrote these files:

* **DVS128** (``# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128``, also used when the header names no
  chip): x = 127 − ((a >> 1) & 0x7F), y = (a >> 8) & 0x7F, ON when bit 0 is 0; records with bit 15
  (external/special event) or any higher bit set are dropped.  128×128.
* **DAVIS** (``eu.seebetter.ini.chips.davis.Davis346*`` / ``Davis240*`` / ``Davis128`` /
  ``Davis208*`` / ``Davis640*``, as in jAER's ``DavisBaseCamera``): bit 31 set = APS or IMU sample
  (dropped); bits 10–11 == 01 = external input event (dropped); otherwise a DVS event with
  x = W − 1 − ((a >> 12) & 0x3FF), y = (a >> 22) & 0x1FF, ON when bit 11 is 1.  The sensor
  size comes from the chip class (DAVIS346 = 346×260 ...).  A pixel address outside that sensor
  is a :class:`~eventar.errors.FormatError` naming the record's byte offset.

Coordinates are jAER's (its origin is the bottom-left pixel).  Timestamps are read as unsigned
32-bit; a backward jump of more than 2^31 µs is a wrap of jAER's 32-bit clock and adds 2^32 µs
to everything after it; a smaller step back is clamped to the running maximum, so ``t`` never
decreases (``meta['n_clamped']`` counts them in a whole-file read).  ``t_offset`` is 0: t is the
camera clock in µs; ``meta['creation_time_ms']`` holds the header's ``Creation time`` when present.

Decoding is one numba pass over a memory map (:mod:`eventar.io._decode_aedat`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator

import numpy as np

from ...errors import FormatError
from ...events import EVENT_DTYPE, Recording
from .._decode_header import split_hash_header
from .._registry import FormatReader

FORMAT = "AEDAT 2.0"
MAGIC = b"#!AER-DAT2."

_DVS128, _DAVIS = 0, 1
_CHIPS = (
    (re.compile(r"dvs128|tmpdiff128", re.I), _DVS128, (128, 128)),
    (re.compile(r"davis\s*346|davis346", re.I), _DAVIS, (346, 260)),
    (re.compile(r"davis\s*240|davis240", re.I), _DAVIS, (240, 180)),
    (re.compile(r"davis\s*208|davis208", re.I), _DAVIS, (208, 192)),
    (re.compile(r"davis\s*128|davis128", re.I), _DAVIS, (128, 128)),
    (re.compile(r"davis\w*640|davis640", re.I), _DAVIS, (640, 480)),
)
"""AEChip class-name patterns -> (address layout, sensor (W, H)), first match wins."""


def _sniff(head: bytes, path: Path) -> bool:
    return head.startswith(MAGIC)


def _info(path: Path) -> Dict:
    """Parse the header: layout, sensor size, body offset, record count and header fields."""
    lines, start = split_hash_header(path)
    size = path.stat().st_size
    if not lines or not lines[0].startswith("#!AER-DAT2."):
        raise FormatError(path, "expected '#!AER-DAT2.x' on the first line", 0)
    meta: Dict = {"version": lines[0][len("#!AER-DAT"):].strip(), "header_bytes": start, "n_header_lines": len(lines)}
    chip = hardware = None
    for line in lines:
        body = line.lstrip("#").strip()
        if body.startswith("AEChip:") and chip is None:
            chip = body[len("AEChip:"):].strip()
        elif body.startswith("HardwareInterface:") and hardware is None:
            hardware = body[len("HardwareInterface:"):].strip()
        elif body.startswith("Creation time:"):
            m = re.search(r"(-?\d+)\s*$", body)
            if m:
                meta["creation_time_ms"] = int(m.group(1))
    if chip is None:
        layout, (w, h) = _DVS128, (128, 128)
        meta["chip_assumed"] = "no '# AEChip:' line; DVS128 layout assumed"
    else:
        for pat, layout, (w, h) in _CHIPS:
            if pat.search(chip):
                break
        else:
            raise FormatError(path, f"AEChip '{chip}' has no known address layout (eventar reads DVS128 and DAVIS128/208/240/346/640 files)")
        meta["aechip"] = chip
    if hardware is not None:
        meta["hardware"] = hardware
    meta["layout"] = "DVS128" if layout == _DVS128 else "DAVIS"
    nbytes = size - start
    if nbytes % 8:
        raise FormatError(path, f"truncated: the body ends {nbytes % 8} bytes into an 8-byte record", start + nbytes - nbytes % 8)
    meta["n_records"] = nbytes // 8
    camera = hardware or (chip.rsplit(".", 1)[-1] if chip else "DVS128")
    return {"start": start, "size": size, "layout": layout, "width": w, "height": h, "camera": camera, "meta": meta}


def _header(path: Path) -> Recording:
    info = _info(path)
    meta = dict(info["meta"], source_file=str(path))
    return Recording(np.zeros(0, EVENT_DTYPE), info["width"], info["height"], FORMAT, info["camera"], 0, meta)


def _decode(path: Path, info: Dict, chunk_records: int) -> Iterator[tuple]:
    """Yield (events, state) per block of ``chunk_records`` records."""
    from .. import _decode_aedat as dec

    state = dec.aedat2_state()
    n = info["meta"]["n_records"]
    if n == 0:
        return
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    body = mm[info["start"]: info["start"] + 8 * n]
    for r0 in range(0, n, chunk_records):
        r1 = min(n, r0 + chunk_records)
        out = np.empty(r1 - r0, dtype=EVENT_DTYPE)
        k = dec.decode_aedat2(body[8 * r0: 8 * r1].view(np.uint32), info["layout"], info["width"], info["height"], out, state)
        if state[dec.S_BAD] >= 0:
            rec = r0 + int(state[dec.S_BAD])
            raw = int.from_bytes(bytes(body[8 * rec: 8 * rec + 4]), "big")
            raise FormatError(
                path,
                f"record {rec}: DAVIS address 0x{raw:08x} decodes to x/y outside the {info['width']}x{info['height']} sensor",
                info["start"] + 8 * rec,
            )
        yield out[:k], state


def _chunks(path: Path, chunk_events: int) -> Iterator[np.ndarray]:
    info = _info(path)
    for ev, _ in _decode(path, info, int(chunk_events)):
        if len(ev):
            yield ev


def _read(path: Path) -> Recording:
    from .. import _decode_aedat as dec

    info = _info(path)
    meta = dict(info["meta"], source_file=str(path), n_dropped=0, n_clamped=0)
    events = np.zeros(0, EVENT_DTYPE)
    for events, state in _decode(path, info, max(1, meta["n_records"])):  # one block: the whole body
        meta.update(n_dropped=int(state[dec.S_DROPPED]), n_clamped=int(state[dec.S_CLAMPED]))
    return Recording(events, info["width"], info["height"], FORMAT, info["camera"], 0, meta)


READERS = [FormatReader(FORMAT, _sniff, _header, _chunks, read=_read, priority=10)]
