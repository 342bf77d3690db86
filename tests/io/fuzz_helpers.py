"""The one fuzzing harness of the reader tests: damage a file's bytes, read it three ways.

Property checked by :func:`exercise`: reading a damaged file either succeeds or raises an
:class:`eventar.EventarError` (never a numpy / h5py / struct traceback), and never allocates
memory sized by a corrupt length field (the tracemalloc peak stays proportional to the file size).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from hypothesis import strategies as st

from eventar.errors import EventarError
from eventar.io import iter_events, read_events, read_header

HOW = ("truncate", "flip", "header")


def damage(data, raw: bytes, how: str, header_span: int = 64) -> bytes:
    """``raw`` truncated, with 1–16 bits flipped, or with 1–32 junk bytes written into its first
    ``header_span`` bytes, as drawn from the hypothesis ``data`` strategy."""
    buf = bytearray(raw)
    if how == "truncate":
        return bytes(buf[: data.draw(st.integers(0, max(0, len(buf) - 1)), label="cut")])
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 16), label="n_flips")):
            i = data.draw(st.integers(0, len(buf) - 1), label="byte")
            buf[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        return bytes(buf)
    span = min(len(buf), header_span)
    start = data.draw(st.integers(0, max(0, span - 1)), label="start")
    junk = data.draw(st.binary(min_size=1, max_size=32), label="junk")
    buf[start: start + len(junk)] = junk
    return bytes(buf)


def exercise(path: Path, size: int) -> None:
    """Read ``path`` three ways; only EventarError may escape; memory stays bounded by ``size``."""
    tracemalloc.start()
    try:
        for fn in (read_header, read_events, lambda p: sum(len(c) for c in iter_events(p, 97))):
            try:
                fn(path)
            except EventarError:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * size + (32 << 20), f"peak {peak} bytes for a {size}-byte file"
