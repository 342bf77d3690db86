"""The table of file formats eventar reads, filled by the modules in :mod:`eventar.io.formats`.

Each module in ``eventar/io/formats/`` defines ``READERS``: a list of :class:`FormatReader`.  The
registry imports them all on first use, so adding a format is adding one module.  Formats are
recognised from the file's first bytes, never from its extension.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import numpy as np

from ..errors import FormatError, UnknownFormatError
from ..events import Recording

SNIFF_BYTES = 8192
"""How many leading bytes :func:`sniff_format` hands to each reader's ``sniff``."""


@dataclasses.dataclass(frozen=True)
class FormatReader:
    """How to recognise and decode one file format.

    Attributes:
        name: format name as reported by ``Recording.format`` (e.g. ``"AEDAT 3.1"``).
        sniff: ``sniff(head, path) -> bool``; ``head`` is the file's first :data:`SNIFF_BYTES` bytes.
        header: ``header(path) -> Recording`` with an empty event array and every piece of metadata
            (sensor size, camera, t_offset, meta such as other streams) filled in.
        chunks: ``chunks(path, chunk_events) -> Iterator[ndarray]`` of :data:`~eventar.events.EVENT_DTYPE`
            arrays of at most ``chunk_events`` events, in file order, memory independent of file size.
        read: optional fast path ``read(path) -> Recording`` for the whole file; by default the
            chunks are concatenated.
        priority: higher is tried first when several readers' ``sniff`` accept the same bytes.
    """

    name: str
    sniff: Callable[[bytes, Path], bool]
    header: Callable[[Path], Recording]
    chunks: Callable[[Path, int], Iterator[np.ndarray]]
    read: Optional[Callable[[Path], Recording]] = None
    priority: int = 0


_READERS: List[FormatReader] = []


def readers() -> List[FormatReader]:
    """All registered readers, highest priority first (imports ``eventar.io.formats.*`` once)."""
    if not _READERS:
        from . import formats

        found = []
        for mod in sorted(pkgutil.iter_modules(formats.__path__), key=lambda m: m.name):
            if mod.name.startswith("_"):
                continue
            module = importlib.import_module(f"{formats.__name__}.{mod.name}")
            found.extend(getattr(module, "READERS", []))
        _READERS.extend(sorted(found, key=lambda r: -r.priority))
    return list(_READERS)


def sniff_format(path: "os.PathLike[str] | str") -> FormatReader:
    """The reader whose ``sniff`` accepts the file's first bytes.

    Raises:
        FormatError: the file cannot be opened.
        UnknownFormatError: no reader recognises it (the message lists the formats tried).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as e:
        raise FormatError(path, f"cannot open: {e.strerror or e}") from None
    for r in readers():
        if r.sniff(head, path):
            return r
    names = ", ".join(r.name for r in readers())
    raise UnknownFormatError(path, f"unrecognised content (first bytes {head[:16]!r}); eventar reads {names}", 0)
