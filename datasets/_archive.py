"""Safe extraction of dataset archives (zip, tar, tar.gz/bz2/xz), including zips of zips.

Every member name is checked before anything is written: absolute paths, ``..`` components that
climb out of the target, links pointing outside it, and device / FIFO members are refused with a
:class:`~eventar.errors.DatasetError` naming the archive and the member.  Extraction goes to a
temporary folder beside the target, renamed into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List

from eventar.errors import DatasetError


def _safe_relative(archive: Path, name: str) -> PurePosixPath:
    """Member name → relative path inside the target, or raise if it would escape."""
    clean = name.replace("\\", "/")
    p = PurePosixPath(clean)
    if p.is_absolute() or (len(clean) > 1 and clean[1] == ":"):
        raise DatasetError(f"{archive}: member {name!r} has an absolute path; refusing to extract outside the target folder")
    depth = 0
    for part in p.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                raise DatasetError(f"{archive}: member {name!r} climbs out of the target folder ('..'); refusing to extract")
        elif part not in ("", "."):
            depth += 1
    return p


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _safe_relative(archive, info.filename)
        mode = (info.external_attr >> 16) & 0xFFFF
        if stat.S_ISLNK(mode):
            raise DatasetError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")


def _check_tar(archive: Path, tf: tarfile.TarFile) -> List[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        rel = _safe_relative(archive, m.name)
        if m.isdev() or m.isfifo():
            raise DatasetError(f"{archive}: member {m.name!r} is a device or FIFO; refusing to extract")
        if m.issym() or m.islnk():
            target = m.linkname.replace("\\", "/")
            if m.issym():
                target = str(PurePosixPath(rel).parent / target)
            if PurePosixPath(m.linkname).is_absolute():
                raise DatasetError(f"{archive}: link {m.name!r} points to the absolute path {m.linkname!r}; refusing to extract")
            _safe_relative(archive, target)
    return members


def _extract_one(archive: Path, dest: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _check_zip(archive, zf)
            zf.extractall(dest)
        return
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as e:
        raise DatasetError(f"{archive}: not a zip or tar archive ({e})") from None
    with tf:
        members = _check_tar(archive, tf)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python without PEP 706
            tf.extractall(dest, members=members)


def extract_archive(archive: "str | os.PathLike[str]", target: "str | os.PathLike[str]", *, nested_zips: bool = False, force: bool = False) -> Path:
    """Extract ``archive`` into the folder ``target``, refusing members that escape it.

    Args:
        archive: a ``.zip`` or tar file (compression recognised automatically).
        target: folder to create; its content is the archive's content.
        nested_zips: also extract every ``.zip`` found inside (HARDVS ships ``action_001.zip`` …
            inside ``MINI_HARDVS_files.zip``) into a folder of the same name without ``.zip``,
            then delete the inner zip.
        force: replace an existing ``target``.
    Returns:
        ``target`` as a Path.
    Raises:
        DatasetError: unreadable archive, a member that would land outside ``target`` (absolute
            path, ``..``, escaping link) or a device file, or ``target`` exists without ``force``.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DatasetError(f"{archive}: archive not found")
    if target.exists() and not force:
        raise DatasetError(f"{target}: already exists; pass force=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        _extract_one(archive, tmp)
        if nested_zips:
            pending = sorted(tmp.rglob("*.zip"))
            while pending:
                inner = pending.pop()
                out = inner.with_suffix("")
                scratch = Path(tempfile.mkdtemp(prefix=".inner.", dir=inner.parent))
                _extract_one(inner, scratch)
                top = list(scratch.iterdir())
                # action_001.zip usually holds action_001/...: do not nest the folder twice.
                src = top[0] if len(top) == 1 and top[0].is_dir() and top[0].name == out.name else scratch
                if out.exists():
                    raise DatasetError(f"{inner}: extracting it would overwrite {out.relative_to(tmp)}")
                os.replace(src, out)
                shutil.rmtree(scratch, ignore_errors=True)
                inner.unlink()
                pending.extend(sorted(out.rglob("*.zip")))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
