"""Reading and writing event recordings.

>>> rec = read_events("user01_fluorescent.aedat")      # format sniffed from the bytes
>>> rec.events["t"], rec.sensor_size, rec.format, rec.camera
>>> for chunk in iter_events("huge.raw", chunk_events=1_000_000): ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..events import EVENT_DTYPE, Recording
from ._registry import FormatReader, readers, sniff_format
from .hdf5 import write_h5
from .aedat_write import write_aedat2_dvs128, write_aedat31
from .formats.numpy_io import read_npy

__all__ = ["read_events", "iter_events", "read_header", "sniff_format", "readers", "FormatReader", "write_h5",
           "read_npy", "write_aedat31", "write_aedat2_dvs128"]

DEFAULT_CHUNK_EVENTS = 1 << 20


def read_header(path: "os.PathLike[str] | str") -> Recording:
    """Metadata of a recording without its events (``len(rec) == 0``); cheap on any file size."""
    return sniff_format(path).header(Path(path))


def read_events(path: "os.PathLike[str] | str") -> Recording:
    """Read a whole recording; the format is recognised from the file's bytes.

    Args:
        path: any file eventar reads (AEDAT 2.0/3.x/4.0, Prophesee DAT/EVT2/EVT3, N-MNIST .bin,
            npy/npz, HDF5).
    Returns:
        :class:`~eventar.events.Recording`; ``events`` is an (N,) EVENT_DTYPE array, t in µs.
    Raises:
        FormatError: the file is corrupt or truncated (message: file, byte offset, expectation).
    """
    path = Path(path)
    reader = sniff_format(path)
    if reader.read is not None:
        return reader.read(path)
    head = reader.header(path)
    parts = list(reader.chunks(path, DEFAULT_CHUNK_EVENTS))
    events = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
    return Recording(events, head.width, head.height, head.format, head.camera, head.t_offset, dict(head.meta))


def iter_events(path: "os.PathLike[str] | str", chunk_events: int = DEFAULT_CHUNK_EVENTS) -> Iterator[np.ndarray]:
    """Stream a recording as EVENT_DTYPE chunks of at most ``chunk_events`` events.

    Memory stays bounded by the chunk size whatever the file size; metadata comes from
    :func:`read_header`.
    """
    if chunk_events <= 0:
        raise ValueError(f"chunk_events must be positive, got {chunk_events}")
    path = Path(path)
    yield from sniff_format(path).chunks(path, int(chunk_events))
