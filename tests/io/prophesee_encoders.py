"""Small, spec-following encoders for Prophesee DAT, EVT 2.0 and EVT 3.0, used to fabricate test files.

Written from Prophesee's format documentation (docs.prophesee.ai, "DAT", "EVT 2.0", "EVT 3.0"),
independently of the reader under test.  Events are EVENT_DTYPE arrays sorted by t.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np


def dat_bytes(events: np.ndarray, header_lines: Sequence[str] = ("% Data file containing Event2D events.", "% Version 2"),
              ev_type: int = 0, ev_size: int = 8, t32: Optional[np.ndarray] = None) -> bytes:
    """A DAT file: ``%`` header lines, type and size bytes, then LE (uint32 t, uint32 data) records.

    ``t32`` overrides the stored 32-bit times (to fabricate wraps or step-backs).
    """
    head = "".join(line + "\n" for line in header_lines).encode("latin-1")
    rec = np.empty((len(events), 2), "<u4")
    rec[:, 0] = events["t"].astype(np.uint64) & 0xFFFFFFFF if t32 is None else t32
    rec[:, 1] = (events["x"].astype(np.uint32) & 0x3FFF) | ((events["y"].astype(np.uint32) & 0x3FFF) << 14) | (
        events["p"].astype(np.uint32) << 28)
    return head + bytes([ev_type, ev_size]) + rec.tobytes()


def evt2_words(events: np.ndarray) -> np.ndarray:
    """EVT 2.0 32-bit words: TIME_HIGH (type 0x8, t >> 6) when it changes, then CD_OFF/CD_ON
    (type 0x0/0x1) with t[5:0] in bits 27..22, x in 21..11, y in 10..0."""
    words: List[int] = []
    high = None
    for t, x, y, p in zip(events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist()):
        if t >> 6 != high:
            high = t >> 6
            words.append((0x8 << 28) | (high & 0x0FFFFFFF))
        words.append(((1 if p else 0) << 28) | ((t & 0x3F) << 22) | ((x & 0x7FF) << 11) | (y & 0x7FF))
    return np.asarray(words, "<u4")


def evt3_words(events: np.ndarray, vectorise: bool = True, t_low_override: Optional[dict] = None) -> np.ndarray:
    """EVT 3.0 16-bit words.

    TIME_HIGH (0x8, t[23:12]) for every 4096 µs step, as the sensor emits it, and TIME_LOW
    (0x6, t[11:0]) when it changes, EVT_ADDR_Y (0x0, y)
    when y changes, then either EVT_ADDR_X (0x2, pol in bit 11, x) or, for a run of >= 3 events
    with the same t, y and polarity and increasing x within 12 of the run start, VECT_BASE_X
    (0x3, pol, base x) followed by VECT_12 (0x4) masks.  TIME_HIGH wraps every 2^24 µs, as on
    the sensor.  ``t_low_override`` {event index: TIME_LOW value} writes a different TIME_LOW
    before that event (to fabricate a step-back).
    """
    t = events["t"].tolist()
    x = events["x"].tolist()
    y = events["y"].tolist()
    p = events["p"].tolist()
    words: List[int] = []
    high = low = cur_y = None
    i = 0
    n = len(t)
    while i < n:
        th, tl = (t[i] >> 12) & 0xFFF, t[i] & 0xFFF
        if t_low_override and i in t_low_override:
            tl = t_low_override[i]
            low = None
        if (t[i] >> 12) != high:
            # like the sensor, emit every TIME_HIGH step (one per 4096 µs), not only those with events
            first = (t[i] >> 12) if high is None else high + 1
            for h in range(first, (t[i] >> 12) + 1):
                words.append((0x8 << 12) | (h & 0xFFF))
            high = t[i] >> 12
            low = None
        if tl != low:
            low = tl
            words.append((0x6 << 12) | tl)
        if y[i] != cur_y:
            cur_y = y[i]
            words.append((0x0 << 12) | (y[i] & 0x7FF))
        j = i + 1
        if vectorise:
            while (j < n and t[j] == t[i] and y[j] == y[i] and p[j] == p[i] and x[j] > x[j - 1]
                   and x[j] - x[i] < 12 and not (t_low_override and j in t_low_override)):
                j += 1
        if vectorise and j - i >= 3:
            words.append((0x3 << 12) | ((1 if p[i] else 0) << 11) | (x[i] & 0x7FF))
            mask = 0
            for k in range(i, j):
                mask |= 1 << (x[k] - x[i])
            words.append((0x4 << 12) | mask)
            i = j
        else:
            words.append((0x2 << 12) | ((1 if p[i] else 0) << 11) | (x[i] & 0x7FF))
            i += 1
    return np.asarray(words, "<u2")


def raw_bytes(words: np.ndarray, header_lines: Sequence[str]) -> bytes:
    """A RAW file: ``%`` header lines (end with ``% end`` for the modern layout) then the words."""
    return "".join(line + "\n" for line in header_lines).encode("latin-1") + words.tobytes()
