"""numba kernels that decode AEDAT 2.0 records and AEDAT 3.x packets straight from a memory map.

Each kernel makes one pass over the raw bytes (``uint8`` views of a ``numpy.memmap``) and writes
:data:`~eventar.events.EVENT_DTYPE` records; there is no Python loop per event or per packet body.
The kernels never raise: they return an error code and the byte offset where decoding stopped,
and the format modules turn that into a :class:`~eventar.errors.FormatError`.

State that must survive from one chunk to the next (clock-wrap count, last timestamp) travels in
a small ``int64`` array, so streaming gives exactly the events of a whole-file read.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("eventar's AEDAT kernels read uint32 words in host order and need a little-endian CPU")

# ---------------------------------------------------------------------------------- AEDAT 2.0
LAYOUT_DVS128 = 0
LAYOUT_DAVIS = 1

# state slots shared by the AEDAT 2.0 kernel
S_PREV_RAW = 0  # previous raw 32-bit timestamp, -1 before the first record
S_WRAP_BASE = 1  # µs added for the clock wraps seen so far (multiples of 2^32)
S_LAST_T = 2  # last emitted t (µs), for clamping small backward steps
S_DROPPED = 3  # special / APS / IMU / external records skipped
S_CLAMPED = 4  # events whose t was raised to the running maximum
S_BAD = 5  # index of the first record whose address is outside the sensor, -1 if none
AEDAT2_STATE = 6

_WRAP = np.int64(1) << np.int64(32)
_HALF = np.int64(1) << np.int64(31)


def aedat2_state() -> np.ndarray:
    """Fresh decoder state for :func:`decode_aedat2` (int64 array of length :data:`AEDAT2_STATE`)."""
    s = np.zeros(AEDAT2_STATE, dtype=np.int64)
    s[S_PREV_RAW] = -1
    s[S_LAST_T] = np.iinfo(np.int64).min
    s[S_BAD] = -1
    return s


@njit(cache=True, nogil=True, inline="always")
def _bswap32(v):  # pragma: no cover - compiled
    return ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | ((v >> 24) & 0xFF)


@njit(cache=True, nogil=True)
def decode_aedat2(words, layout, width, height, out, state):  # pragma: no cover - compiled
    """Decode whole 8-byte big-endian AEDAT 2.0 records (uint32 address, uint32 timestamp).

    Args:
        words: (2·M,) uint32 view (host = little-endian order) of the raw records; each word is
            byte-swapped here, which is ~30 % faster than assembling bytes.
        layout: :data:`LAYOUT_DVS128` (jAER DVS128 extractor) or :data:`LAYOUT_DAVIS`
            (jAER DavisBaseCamera extractor).
        width, height: sensor size in pixels (DAVIS x is mirrored as ``width - 1 - raw_x``).
        out: (≥M,) EVENT_DTYPE output.
        state: int64 state array (see the ``S_*`` slots), updated in place.
    Returns:
        number of events written; ``state[S_BAD]`` holds the index of an out-of-sensor record
        (decoding stops there) or -1.
    """
    m = words.shape[0] // 2
    prev = state[S_PREV_RAW]
    base = state[S_WRAP_BASE]
    last = state[S_LAST_T]
    dropped = state[S_DROPPED]
    clamped = state[S_CLAMPED]
    k = 0
    for i in range(m):
        a = np.int64(_bswap32(np.uint32(words[2 * i])))
        ts = np.int64(_bswap32(np.uint32(words[2 * i + 1])))
        if prev >= 0 and prev - ts > _HALF:
            base += _WRAP
        prev = ts
        t = base + ts
        if layout == 0:
            if a & 0xFFFF8000:  # bit 15 = external/special event; higher bits never set by a DVS128
                dropped += 1
                continue
            x = 127 - ((a >> 1) & 0x7F)
            y = (a >> 8) & 0x7F
            p = 1 - (a & 1)
        else:
            if a & 0x80000000:  # APS sample or IMU word
                dropped += 1
                continue
            if (a & 0xC00) == 0x400:  # external input pin event
                dropped += 1
                continue
            rx = (a >> 12) & 0x3FF
            y = (a >> 22) & 0x1FF
            if rx >= width or y >= height:
                state[S_BAD] = i
                break
            x = width - 1 - rx
            p = (a >> 11) & 1
        if t < last:
            t = last
            clamped += 1
        last = t
        out[k].t = t
        out[k].x = x
        out[k].y = y
        out[k].p = p
        k += 1
    state[S_PREV_RAW] = prev
    state[S_WRAP_BASE] = base
    state[S_LAST_T] = last
    state[S_DROPPED] = dropped
    state[S_CLAMPED] = clamped
    return k


# ---------------------------------------------------------------------------------- AEDAT 3.x
ERR_NONE = 0
ERR_SHORT_HEADER = 1  # fewer than 28 bytes left for a packet header
ERR_BAD_HEADER = 2  # impossible field values in a packet header
ERR_SHORT_BODY = 3  # eventNumber × eventSize runs past the end of the file
ERR_BAD_POLARITY = 4  # a polarity packet whose eventSize / eventTSOffset is not 8 / 4

PACKET_COLUMNS = 3  # table columns: body offset, eventNumber, eventTSOverflow


@njit(cache=True, nogil=True)
def _le_i32(buf, j):  # pragma: no cover - compiled
    v = np.int64(buf[j]) | (np.int64(buf[j + 1]) << 8) | (np.int64(buf[j + 2]) << 16) | (np.int64(buf[j + 3]) << 24)
    if v >= _HALF:
        v -= _WRAP
    return v


@njit(cache=True, nogil=True)
def scan_aedat3(buf, pos, table, counts):  # pragma: no cover - compiled
    """Walk AEDAT 3.x packet headers from byte ``pos``; record polarity packets in ``table``.

    Only headers are read (bodies are jumped over), so this is cheap even on huge files.  Stops
    when ``table`` is full, at the end of ``buf`` or at the first impossible header.

    Args:
        buf: (S,) uint8, the whole file.
        pos: byte offset of the next packet header.
        table: (K, 3) int64 output rows (body offset, eventNumber, eventTSOverflow).
        counts: (2,) int64 in/out: [other packets skipped, polarity events seen].
    Returns:
        (rows written, next header offset, error code ``ERR_*``, offset of the bad header).
    """
    end = buf.shape[0]
    rows = 0
    while pos < end and rows < table.shape[0]:
        if end - pos < 28:
            return rows, pos, ERR_SHORT_HEADER, pos
        etype = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8)
        if etype >= 32768:
            etype -= 65536
        size = _le_i32(buf, pos + 4)
        tsoff = _le_i32(buf, pos + 8)
        overflow = _le_i32(buf, pos + 12)
        number = _le_i32(buf, pos + 20)
        valid = _le_i32(buf, pos + 24)
        if size <= 0 or tsoff < 0 or tsoff + 4 > size or overflow < 0 or number < 0 or valid < 0 or valid > number:
            return rows, pos, ERR_BAD_HEADER, pos
        body = number * size
        if body > end - pos - 28:
            return rows, pos, ERR_SHORT_BODY, pos
        if etype == 1:
            if size != 8 or tsoff != 4:
                return rows, pos, ERR_BAD_POLARITY, pos
            table[rows, 0] = pos + 28
            table[rows, 1] = number
            table[rows, 2] = overflow
            rows += 1
            counts[1] += number
        else:
            counts[0] += 1
        pos += 28 + body
    return rows, pos, ERR_NONE, -1


# state slots of the AEDAT 3.x decoder
S3_ROW = 0  # next packet row in the table
S3_EVENT = 1  # next event inside that packet
S3_LAST_T = 2
S3_INVALID = 3  # events dropped for a cleared valid bit
S3_CLAMPED = 4
S3_BAD = 5  # byte offset of an out-of-sensor event, -1 if none
AEDAT3_STATE = 6


def aedat3_state() -> np.ndarray:
    """Fresh decoder state for :func:`decode_aedat3`."""
    s = np.zeros(AEDAT3_STATE, dtype=np.int64)
    s[S3_LAST_T] = np.iinfo(np.int64).min
    s[S3_BAD] = -1
    return s


@njit(cache=True, nogil=True)
def decode_aedat3(buf, table, rows, width, height, out, state):  # pragma: no cover - compiled
    """Decode polarity events of the packets ``table[state[S3_ROW]:rows]`` into ``out``.

    Polarity event: little-endian ``uint32 data`` (bit 0 valid, bit 1 polarity, bits 2–16 y,
    bits 17–31 x) and ``int32 timestamp``; t = eventTSOverflow << 31 | timestamp (31 bits).
    Events with the valid bit cleared are dropped.  Stops when ``out`` is full (resumable through
    ``state``) or at an event outside a known sensor (``state[S3_BAD]`` = its byte offset).

    Args:
        buf: (S,) uint8, the whole file.
        table, rows: packet table from :func:`scan_aedat3` and its used length.
        width, height: sensor size, or 0 when unknown (no coordinate check).
        out: (C,) EVENT_DTYPE output.
        state: int64 state (``S3_*`` slots), updated in place.
    Returns:
        number of events written.
    """
    r = state[S3_ROW]
    e = state[S3_EVENT]
    last = state[S3_LAST_T]
    invalid = state[S3_INVALID]
    clamped = state[S3_CLAMPED]
    cap = out.shape[0]
    k = 0
    while r < rows and k < cap:
        off = table[r, 0]
        number = table[r, 1]
        hi = table[r, 2] << 31
        w = buf[off: off + 8 * number].view(np.uint32)  # little-endian host: words as stored
        while e < number and k < cap:
            j = off + 8 * e
            data = np.int64(w[2 * e])
            ts = np.int64(w[2 * e + 1]) & 0x7FFFFFFF
            e += 1
            if (data & 1) == 0:
                invalid += 1
                continue
            x = (data >> 17) & 0x7FFF
            y = (data >> 2) & 0x7FFF
            if width > 0 and (x >= width or y >= height):
                state[S3_BAD] = j
                state[S3_ROW] = r
                state[S3_EVENT] = e - 1
                state[S3_LAST_T] = last
                state[S3_INVALID] = invalid
                state[S3_CLAMPED] = clamped
                return k
            t = hi | ts
            if t < last:
                t = last
                clamped += 1
            last = t
            out[k].t = t
            out[k].x = x
            out[k].y = y
            out[k].p = (data >> 1) & 1
            k += 1
        if e >= number:
            r += 1
            e = 0
    state[S3_ROW] = r
    state[S3_EVENT] = e
    state[S3_LAST_T] = last
    state[S3_INVALID] = invalid
    state[S3_CLAMPED] = clamped
    return k


# ---------------------------------------------------------------------------------- N-MNIST
@njit(cache=True, nogil=True)
def decode_nmnist(buf, out, state):  # pragma: no cover - compiled
    """Decode 5-byte N-MNIST / N-Caltech101 records (x, y, p|t[22:16], t[15:8], t[7:0]).

    A record with y == 240 is a timestamp-overflow marker: later timestamps gain 2^23 µs.

    Args:
        buf: (5·M,) uint8.
        out: (≥M,) EVENT_DTYPE output.
        state: int64[3] in/out: [overflow count, last t, overflow records seen].
    Returns:
        number of events written.
    """
    m = buf.shape[0] // 5
    ovf = state[0]
    last = state[1]
    k = 0
    for i in range(m):
        j = 5 * i
        y = np.int64(buf[j + 1])
        if y == 240:
            ovf += 1
            state[2] += 1
            continue
        t = (ovf << 23) | (np.int64(buf[j + 2] & 0x7F) << 16) | (np.int64(buf[j + 3]) << 8) | np.int64(buf[j + 4])
        if t < last:
            t = last
        last = t
        out[k].t = t
        out[k].x = buf[j]
        out[k].y = y
        out[k].p = buf[j + 2] >> 7
        k += 1
    state[0] = ovf
    state[1] = last
    return k


# ---------------------------------------------------------------------------------- statistics
@njit(cache=True, nogil=True)
def event_stats(events):  # pragma: no cover - compiled
    """One pass over an EVENT_DTYPE array: (max x, max y, max p, t non-decreasing?); (-1, -1, 0, True) if empty."""
    mx = -1
    my = -1
    mp = 0
    mono = True
    n = events.shape[0]
    for i in range(n):
        x = np.int64(events[i].x)
        y = np.int64(events[i].y)
        if x > mx:
            mx = x
        if y > my:
            my = y
        if events[i].p > mp:
            mp = events[i].p
        if i > 0 and events[i].t < events[i - 1].t:
            mono = False
    return mx, my, mp, mono


# ---------------------------------------------------------------------------------- AEDAT 4.0
@njit(cache=True, nogil=True)
def walk_aedat4(buf, start, limit):  # pragma: no cover - compiled
    """Follow AEDAT 4.0 packet framing (int32 stream id, uint32 size, payload) from ``start``.

    Returns:
        (packets walked, offset of the first packet that does not fit before ``limit`` or -1,
        bytes that packet claims).
    """
    pos = start
    n = 0
    while pos < limit:
        if limit - pos < 8:
            return n, pos, -1
        size = (np.int64(buf[pos + 4]) | (np.int64(buf[pos + 5]) << 8) | (np.int64(buf[pos + 6]) << 16)
                | (np.int64(buf[pos + 7]) << 24))
        if pos + 8 + size > limit:
            return n, pos, size
        pos += 8 + size
        n += 1
    return n, -1, 0
