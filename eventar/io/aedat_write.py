"""Spec-exact writers for AEDAT 3.1 (cAER / DVS128 Gesture) and AEDAT 2.0 (jAER DVS128).

No real AEDAT 3.x recording is public, so these writers are how eventar makes fixtures: they
produce files laid out exactly as iniVation's format documents describe, including the parts
readers get wrong (several packets, non-polarity packets between them, events whose valid bit
is 0, timestamps past 2^31 µs that need ``eventTSOverflow``, ``eventCapacity`` larger than
``eventNumber``).

>>> write_aedat31("user01_fluorescent.aedat", events, 128, 128)          # a DVS128 Gesture trial
>>> write_aedat2_dvs128("walk.aedat", events)                            # a jAER DVS128 file

Both write to a temporary file beside ``path`` and rename it on success.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import EventValidationError
from ..events import as_events
from .atomic import atomic_output

__all__ = ["write_aedat31", "write_aedat2_dvs128", "AEDAT3_KNOWN_SOURCES", "DVS128_CHIP"]

AEDAT3_KNOWN_SOURCES = {
    "DVS128": (128, 128),
    "DAVIS128": (128, 128),
    "DAVIS208": (208, 192),
    "DAVIS240": (240, 180),
    "DAVIS346": (346, 260),
    "DAVIS640": (640, 480),
    "DVXPLORER LITE": (320, 240),
    "DVXPLORER": (640, 480),
    "DVS132S": (132, 104),
    "EDVS": (128, 128),
}
"""Camera name prefixes in an AEDAT 3.x ``#Source <id>: <name>`` line and the sensor (W, H) they imply.

Matching is by prefix on the upper-cased name, longest prefix first (``DAVIS240C`` → 240×180)."""

DVS128_CHIP = "ch.unizh.ini.jaer.chip.retina.DVS128"
"""jAER's chip class for the DVS128, as written in the ``# AEChip:`` header line."""

_POLARITY_EVENT = 1
_SPECIAL_EVENT = 0
_IMU6_EVENT = 3
_IMU6_SIZE = 36  # uint32 info, int32 timestamp, 7 float32 (accel xyz, temperature, gyro xyz)
_TS_MASK31 = (1 << 31) - 1
_DEFAULT_PACKET = 4096


def aedat3_source_size(name: str) -> Optional[tuple]:
    """Sensor (W, H) implied by an AEDAT 3.x source/camera name, or None when unknown.

    Args:
        name: e.g. ``"DVS128"``, ``"DAVIS240C"``, ``"DAVIS346B"`` (case-insensitive).
    """
    up = name.strip().upper()
    for prefix in sorted(AEDAT3_KNOWN_SOURCES, key=len, reverse=True):
        if up.startswith(prefix):
            return AEDAT3_KNOWN_SOURCES[prefix]
    return None


def _packet_header(etype: int, size: int, tsoff: int, overflow: int, capacity: int, number: int, valid: int) -> bytes:
    head = np.zeros(1, dtype=[("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("tsoff", "<i4"),
                              ("overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
    head[0] = (etype, 1, size, tsoff, overflow, capacity, number, valid)
    return head.tobytes()


def _check_events(events: np.ndarray, what: str) -> np.ndarray:
    events = as_events(events)
    if events.size and int(events["t"].min()) < 0:
        i = int(np.argmax(events["t"] < 0))
        raise EventValidationError(f"{what}: event {i} has t = {events['t'][i]} µs; timestamps must be >= 0")
    if events.size > 1 and (np.diff(events["t"]) < 0).any():
        i = int(np.argmax(np.diff(events["t"]) < 0)) + 1
        raise EventValidationError(f"{what}: event {i} goes back in time (t must be non-decreasing)")
    return events


def _split_packets(t: np.ndarray, packet_sizes: Optional[Sequence[int]], max_packet: int) -> list:
    """(start, stop) index pairs of the polarity packets; never straddling an overflow epoch."""
    n = t.shape[0]
    epoch = t >> 31
    if packet_sizes is not None:
        sizes = [int(s) for s in packet_sizes]
        if any(s <= 0 for s in sizes) or sum(sizes) != n:
            raise EventValidationError(
                f"packet_sizes must be positive and sum to the number of events ({n}); got sum {sum(sizes)}"
            )
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            if epoch[a] != epoch[b - 1]:
                raise EventValidationError(
                    f"packet of events {a}..{b - 1} spans a timestamp overflow (t >> 31 goes from "
                    f"{epoch[a]} to {epoch[b - 1]}); one packet holds one eventTSOverflow value"
                )
            out.append((int(a), int(b)))
        return out
    out = []
    # epoch changes are hard boundaries; inside an epoch, packets of max_packet events
    cuts = np.flatnonzero(np.diff(epoch)) + 1
    edges = np.concatenate([[0], cuts, [n]]) if n else np.zeros(1, dtype=np.int64)
    for a, b in zip(edges[:-1], edges[1:]):
        for s in range(int(a), int(b), max_packet):
            out.append((s, min(s + max_packet, int(b))))
    return out


def write_aedat31(
    path: "os.PathLike[str] | str",
    events: np.ndarray,
    width: int = 128,
    height: int = 128,
    *,
    camera: Optional[str] = None,
    packet_sizes: Optional[Sequence[int]] = None,
    max_packet_events: int = _DEFAULT_PACKET,
    extra_packets: bool = False,
    invalid_mask: Optional[np.ndarray] = None,
    capacity_slack: int = 0,
    start_time: str = "2017-04-05 11:33:20 (TZ+0200)",
    force: bool = False,
) -> Path:
    """Write events as an AEDAT 3.1 file, laid out as cAER writes it (and DVS128 Gesture ships it).

    Layout: ASCII header ``#!AER-DAT3.1``, ``#Format: RAW``, ``#Source 1: <camera>``,
    ``#Start-Time: ...`` and ``#!END-HEADER``, each line ending CRLF; then event packets, all
    little-endian: a 28-byte header (int16 eventType, int16 eventSource = 1, int32 eventSize,
    int32 eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber,
    int32 eventValid) followed by eventNumber × eventSize bytes.  A polarity event (type 1, 8 bytes)
    is ``uint32 data`` = x << 17 | y << 2 | p << 1 | valid, then ``int32 timestamp`` = the low 31
    bits of t; the packet's eventTSOverflow holds ``t >> 31``, so times past 2^31 µs (35.8 min)
    are written exactly and packets never straddle an overflow.

    Args:
        path: output file (written to a temporary file, then renamed).
        events: (N,) EVENT_DTYPE (or tonic-struct) array, t in µs (>= 0, non-decreasing);
            x < 2^15, y < 2^15.
        width: sensor width W in pixels (x < W is checked).
        height: sensor height H in pixels (y < H is checked).
        camera: name on the ``#Source 1:`` line; default ``"DVS128"`` for 128×128, else
            ``"eventar"``.  When the name does not imply (W, H) (see :data:`AEDAT3_KNOWN_SOURCES`),
            an extra header line ``#Sensor-Size: <W>x<H>`` is written, which eventar's reader honours.
        packet_sizes: polarity-packet sizes in events (must sum to N, and no packet may straddle a
            ``t >> 31`` change); default: packets of ``max_packet_events``, split at overflows.
        max_packet_events: packet size used when ``packet_sizes`` is None.
        extra_packets: also write non-polarity packets: a SPECIAL packet (type 0, 8-byte events,
            one event) before every polarity packet and an IMU6 packet (type 3, 36-byte events,
            one event) after every second polarity packet.  Readers must skip them.
        invalid_mask: (N,) bool; True marks events written with valid bit 0 (still counted in
            eventNumber, not in eventValid).  Readers must drop them.
        capacity_slack: written eventCapacity = eventNumber + capacity_slack (cAER writes 0); a
            reader that sizes the packet body by capacity instead of eventNumber goes wrong.
        start_time: text of the ``#Start-Time:`` line.
        force: overwrite an existing ``path``.
    Returns:
        ``path`` as a Path.
    Raises:
        EventValidationError: events out of the sensor, t negative or decreasing, bad packet_sizes.
        OutputExistsError: ``path`` exists and ``force`` is False.
    """
    events = _check_events(events, "write_aedat31")
    n = events.shape[0]
    width, height = int(width), int(height)
    if not (0 < width <= 1 << 15 and 0 < height <= 1 << 15):
        raise EventValidationError(f"write_aedat31: sensor {width}x{height} does not fit 15-bit x/y fields")
    for f, lim in (("x", width), ("y", height)):
        if n and int(events[f].max()) >= lim:
            i = int(np.argmax(events[f] >= lim))
            raise EventValidationError(f"write_aedat31: event {i}: {f} = {events[f][i]} outside the sensor ({f} < {lim})")
    if invalid_mask is None:
        valid = np.ones(n, dtype=np.uint32)
    else:
        invalid_mask = np.asarray(invalid_mask, dtype=bool)
        if invalid_mask.shape != (n,):
            raise EventValidationError(f"write_aedat31: invalid_mask has shape {invalid_mask.shape}, expected ({n},)")
        valid = (~invalid_mask).astype(np.uint32)
    if capacity_slack < 0:
        raise EventValidationError(f"write_aedat31: capacity_slack must be >= 0, got {capacity_slack}")
    if camera is None:
        camera = "DVS128" if (width, height) == (128, 128) else "eventar"
    if any(c in camera for c in "\r\n"):
        raise EventValidationError("write_aedat31: camera name must be one line")

    lines = ["#!AER-DAT3.1", "#Format: RAW", f"#Source 1: {camera}", f"#Start-Time: {start_time}"]
    if aedat3_source_size(camera) != (width, height):
        lines.append(f"#Sensor-Size: {width}x{height}")
    lines.append("#!END-HEADER")
    header = "".join(line + "\r\n" for line in lines).encode("ascii")

    t = events["t"].astype(np.int64)
    data = (
        (events["x"].astype(np.uint32) << np.uint32(17))
        | (events["y"].astype(np.uint32) << np.uint32(2))
        | (events["p"].astype(np.uint32) << np.uint32(1))
        | valid
    )
    body = np.empty(n, dtype=[("data", "<u4"), ("ts", "<i4")])
    body["data"] = data
    body["ts"] = (t & _TS_MASK31).astype(np.int32)

    with atomic_output(path, force=force) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            for k, (a, b) in enumerate(_split_packets(t, packet_sizes, int(max_packet_events))):
                overflow = int(t[a] >> 31)
                low = int(t[a] & _TS_MASK31)
                if extra_packets:
                    special = np.array([(np.uint32(1), low)], dtype=body.dtype)  # type-0 special, valid bit set
                    f.write(_packet_header(_SPECIAL_EVENT, 8, 4, overflow, 1, 1, 1))
                    f.write(special.tobytes())
                m = b - a
                f.write(_packet_header(_POLARITY_EVENT, 8, 4, overflow, m + capacity_slack, m, int(valid[a:b].sum())))
                f.write(body[a:b].tobytes())
                if extra_packets and k % 2 == 1:
                    imu = np.zeros(1, dtype=[("info", "<u4"), ("ts", "<i4"), ("v", "<f4", (7,))])
                    imu[0] = (1, int(t[b - 1] & _TS_MASK31), np.arange(7, dtype=np.float32))
                    f.write(_packet_header(_IMU6_EVENT, _IMU6_SIZE, 4, int(t[b - 1] >> 31), 1, 1, 1))
                    f.write(imu.tobytes())
    return Path(path)


def write_aedat2_dvs128(
    path: "os.PathLike[str] | str",
    events: np.ndarray,
    *,
    special_mask: Optional[np.ndarray] = None,
    hardware: str = "DVS128-V1 0298",
    creation_time_ms: Optional[int] = None,
    newline: str = "\r\n",
    force: bool = False,
) -> Path:
    """Write events as a jAER AEDAT 2.0 DVS128 file (the inverse of jAER's DVS128 extractor).

    Header lines ``#!AER-DAT2.0``, ``# This is a raw AE data file - do not edit``, the data-format
    and tick lines, optionally ``# Creation time: System.currentTimeMillis() <ms>``, then
    ``# HardwareInterface:`` and ``# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128``.  Body:
    big-endian ``uint32 address, uint32 timestamp`` records with
    address = y << 8 | (127 − x) << 1 | (0 if ON else 1) (jAER: x mirrored, bit 0 = 0 means ON)
    and timestamp = t mod 2^32 (so t ≥ 2^32 µs is written wrapped, as jAER's 32-bit clock does).

    Args:
        path: output file (temporary file, then rename).
        events: (N,) EVENT_DTYPE array, t in µs (>= 0, non-decreasing, consecutive steps < 2^31 µs),
            x, y < 128.
        special_mask: (N,) bool; True writes the event with bit 15 set (an external/special event),
            which readers must drop.
        hardware: text of the ``# HardwareInterface:`` line.
        creation_time_ms: Unix ms for a ``# Creation time:`` line (omitted when None).
        newline: line ending of the header (jAER writes CRLF; some third-party tools write LF).
        force: overwrite an existing ``path``.
    Returns:
        ``path`` as a Path.
    Raises:
        EventValidationError: x/y ≥ 128, t negative or decreasing, or a step ≥ 2^31 µs (a reader
            could not tell it from a wrap).
    """
    events = _check_events(events, "write_aedat2_dvs128")
    n = events.shape[0]
    for f in ("x", "y"):
        if n and int(events[f].max()) > 127:
            i = int(np.argmax(events[f] > 127))
            raise EventValidationError(f"write_aedat2_dvs128: event {i}: {f} = {events[f][i]} outside the 128x128 sensor")
    if n > 1 and int(np.diff(events["t"]).max()) >= 1 << 31:
        raise EventValidationError("write_aedat2_dvs128: a time step of >= 2^31 µs cannot be told from a clock wrap")
    lines = [
        "#!AER-DAT2.0",
        "# This is a raw AE data file - do not edit",
        "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event",
        "# Timestamps tick is 1 us",
    ]
    if creation_time_ms is not None:
        lines.append(f"# Creation time: System.currentTimeMillis() {int(creation_time_ms)}")
    lines += [f"# HardwareInterface: {hardware}", f"# AEChip: {DVS128_CHIP}"]
    header = "".join(line + newline for line in lines).encode("ascii")
    addr = (
        (events["y"].astype(np.uint32) << np.uint32(8))
        | ((np.uint32(127) - events["x"].astype(np.uint32)) << np.uint32(1))
        | (1 - events["p"].astype(np.uint32))
    )
    if special_mask is not None:
        special_mask = np.asarray(special_mask, dtype=bool)
        if special_mask.shape != (n,):
            raise EventValidationError(f"write_aedat2_dvs128: special_mask has shape {special_mask.shape}, expected ({n},)")
        addr = addr | (special_mask.astype(np.uint32) << np.uint32(15))
    body = np.empty(n, dtype=[("a", ">u4"), ("t", ">u4")])
    body["a"] = addr
    body["t"] = (events["t"].astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    with atomic_output(path, force=force) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(body.tobytes())
    return Path(path)
