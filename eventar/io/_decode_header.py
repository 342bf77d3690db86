"""Splitting the ``#`` text header of AEDAT 2.0 / 3.x files from their binary body.

A header line starts with ``#`` and runs to ``\\n`` (jAER and cAER write CRLF, some tools LF).
Where the header ends:

* AEDAT 3.1: right after the ``#!END-HEADER`` line;
* otherwise (AEDAT 2.0, 3.0): before the first line that does not start with ``#``, or that
  starts with ``#`` but holds control bytes before its newline (a binary record that happens to
  begin with 0x23), or after a ``# End Of ASCII Header`` line (newer jAER).  A ``#`` line that runs
  to the end of the file without a newline is header too (header-only files).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from ..errors import FormatError

HEADER_LIMIT = 16 << 20
"""Longest ``#`` header accepted (bytes); jAER's XML preference dumps stay well under 1 MiB."""

_CONTROL = bytes(b for b in range(0x20) if b not in (0x09, 0x0D))


def _has_control(raw: bytes) -> bool:
    return len(raw.translate(None, _CONTROL)) != len(raw)


def split_hash_header(path: Path, *, end_marker: bytes = b"") -> Tuple[List[str], int]:
    """Read the ``#`` header of ``path``.

    Args:
        path: an AEDAT 2.0 / 3.x file.
        end_marker: a line (without ``#`` prefix handling, e.g. ``b"#!END-HEADER"``) after which
            the header ends; empty = use the first non-header line.
    Returns:
        (header lines decoded as latin-1 without their line endings, byte offset of the body).
    Raises:
        FormatError: no newline within :data:`HEADER_LIMIT` bytes, or the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            lines: List[str] = []
            pos = 0
            buf = b""
            while True:
                nl = buf.find(b"\n")
                while nl < 0:
                    if buf and (buf[:1] != b"#" or _has_control(buf)):
                        break
                    more = f.read(1 << 16)
                    if not more:
                        break
                    buf += more
                    nl = buf.find(b"\n")
                    if nl < 0 and len(buf) > HEADER_LIMIT:
                        raise FormatError(path, f"header line longer than {HEADER_LIMIT} bytes (expected '#' lines ending in newline)", pos)
                if not buf or buf[:1] != b"#":
                    return lines, pos
                raw = buf[: nl] if nl >= 0 else buf
                if _has_control(raw):
                    return lines, pos
                line = raw.rstrip(b"\r").decode("latin-1")
                lines.append(line)
                adv = (nl + 1) if nl >= 0 else len(buf)
                pos += adv
                buf = buf[adv:]
                if pos > HEADER_LIMIT:
                    raise FormatError(path, f"text header longer than {HEADER_LIMIT} bytes", pos)
                stripped = raw.rstrip(b"\r").strip()
                if end_marker and stripped == end_marker:
                    return lines, pos
                if stripped.replace(b" ", b"").lower() == b"#endofasciiheader":
                    return lines, pos
                if nl < 0:
                    return lines, pos
    except OSError as e:
        raise FormatError(path, f"cannot read: {e.strerror or e}") from None
