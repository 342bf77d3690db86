"""Write-then-rename, so that a failed or interrupted write never leaves a partial output.

>>> with atomic_output("out.h5", force=False) as tmp:
...     write_something(tmp)          # tmp sits beside out.h5; renamed onto it on success
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: "os.PathLike[str] | str", force: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit rename it onto ``path``.

    The temporary file is created in the destination's folder (same filesystem, so the rename is
    atomic) with a name starting with ``.`` and ending in ``.partial`` plus ``suffix``.  On any
    exception (KeyboardInterrupt included) it is removed and ``path`` is left as it was.

    Args:
        path: final output path; its parent folders are created.
        force: replace an existing ``path``; without it an existing output raises.
        suffix: extra suffix for the temporary name (some writers look at the extension).
    Raises:
        OutputExistsError: ``path`` exists and ``force`` is False.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: output exists; pass --force (force=True) to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the output gets a plain open()'s mode
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
