"""Reading the plain-text split / label lists that datasets ship (CRLF, missing final newline, ...)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Sequence, Tuple

from eventar.errors import DatasetError


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """``(line_number, stripped_text)`` of every non-blank line (any line ending, any final newline).

    Raises:
        DatasetError: the file cannot be read or is not text.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path} @ byte {e.start}: not UTF-8 text") from None
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s:
            yield no, s


def find_file(name: str, places: Sequence[Path], what: str, how: str) -> Path:
    """The first ``place / name`` that exists, else a DatasetError listing every place tried.

    Args:
        name: file name (may contain sub-folders).
        places: folders to look in, in order.
        what: what the file is (for the message).
        how: where to get it (for the message).
    """
    for place in places:
        p = Path(place) / name
        if p.is_file():
            return p
    tried = ", ".join(str(Path(p) / name) for p in places)
    raise DatasetError(f"{what} not found; looked for {tried}. {how}")
