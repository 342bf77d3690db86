"""Explicit downloads (only when a user asks for one): stream to a temporary file, verify, rename."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from eventar.errors import DatasetError
from eventar.io.atomic import atomic_output


def download_file(url: str, dest: "str | os.PathLike[str]", *, md5: Optional[str] = None, sha256: Optional[str] = None, timeout_s: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` and check its checksum; an existing ``dest`` with the right checksum is kept.

    Args:
        url: a public http(s) (or file://) URL.
        dest: output file; written to a temporary name beside it and renamed once verified.
        md5, sha256: expected hex digests (at least one should be given).
        timeout_s: socket timeout in seconds.
    Returns:
        ``dest`` as a Path.
    Raises:
        DatasetError: the download failed or the checksum differs (the partial file is removed).
    """
    dest = Path(dest)

    def digests(path: Path):
        h5, h256 = hashlib.md5(), hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h5.update(block)
                h256.update(block)
        return h5.hexdigest(), h256.hexdigest()

    def ok(path: Path) -> Optional[str]:
        got_md5, got_sha = digests(path)
        if md5 is not None and got_md5 != md5.lower():
            return f"md5 {got_md5}, expected {md5}"
        if sha256 is not None and got_sha != sha256.lower():
            return f"sha256 {got_sha}, expected {sha256}"
        return None

    if dest.is_file() and ok(dest) is None:
        return dest
    with atomic_output(dest, force=True) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(tmp, "wb") as out:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise DatasetError(f"download of {url} failed: {e}") from None
        problem = ok(tmp)
        if problem is not None:
            raise DatasetError(f"download of {url}: {problem}; the file was not kept")
    return dest
