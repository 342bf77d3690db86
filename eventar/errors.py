"""eventar's exceptions: one base class, :class:`EventarError`, which is also a ``ValueError``.

Library code raises these instead of letting numpy/h5py tracebacks escape, and every message
names the file, the byte offset or field, and what was expected.
"""

from __future__ import annotations

import os
from typing import Optional


class EventarError(ValueError):
    """Base class of every error eventar raises on purpose."""


class FormatError(EventarError):
    """A file could not be decoded: it names the file, the byte offset and what was expected.

    Args:
        path: the file being read.
        message: what was wrong and what was expected (e.g. "expected '#!AER-DAT' magic").
        offset: byte offset in the file where the problem was found, if known.
    """

    def __init__(self, path: "os.PathLike[str] | str | None", message: str, offset: Optional[int] = None):
        self.path = None if path is None else os.fspath(path)
        self.offset = offset
        self.reason = message
        where = self.path if self.path is not None else "<input>"
        if offset is not None:
            where = f"{where} @ byte {offset}"
        super().__init__(f"{where}: {message}")


class UnknownFormatError(FormatError):
    """The file's bytes match none of the formats eventar reads."""


class EventValidationError(EventarError):
    """An event array breaks an invariant (coordinate outside the sensor, time going backwards)."""


class DatasetError(EventarError):
    """A dataset root is missing, incomplete or laid out differently from what was expected."""


class ConfigError(EventarError):
    """A configuration value or override is invalid."""


class CheckpointError(EventarError):
    """A checkpoint is missing, truncated or does not match the model."""


class OutputExistsError(EventarError):
    """An output file exists and ``force`` was not given."""
