"""extract_archive: zip/tar extraction that refuses members escaping the target folder."""

from __future__ import annotations

import io
import posixpath
import tarfile
import zipfile

import pytest

from eventar.datasets import extract_archive
from eventar.errors import DatasetError


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path, members, links=()):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def test_zip_of_zips_is_flattened_like_hardvs(tmp_path):
    inner1 = _zip(tmp_path / "action_001.zip", {"action_001/dvSave-a.npz": b"A"})
    inner2 = _zip(tmp_path / "action_002.zip", {"dvSave-b.npz": b"B"})  # no folder inside
    outer = _zip(tmp_path / "MINI.zip", {"MINI/action_001.zip": inner1.read_bytes(), "MINI/action_002.zip": inner2.read_bytes()})
    out = extract_archive(outer, tmp_path / "out", nested_zips=True)
    assert (out / "MINI/action_001/dvSave-a.npz").read_bytes() == b"A"
    assert (out / "MINI/action_002/dvSave-b.npz").read_bytes() == b"B"
    assert not list(out.rglob("*.zip"))


def test_tar_gz_extracts(tmp_path):
    arc = _tar(tmp_path / "d.tar.gz", {"DvsGesture/README.txt": b"hi", "DvsGesture/user01_led.aedat": b"x"})
    out = extract_archive(arc, tmp_path / "out")
    assert (out / "DvsGesture/README.txt").read_bytes() == b"hi"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt"])
def test_escaping_members_are_refused(tmp_path, name):
    for arc in (_zip(tmp_path / "bad.zip", {"ok.txt": b"1", name: b"x"}), _tar(tmp_path / "bad.tar.gz", {"ok.txt": b"1", name: b"x"})):
        with pytest.raises(DatasetError, match="refusing"):
            extract_archive(arc, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        assert not (tmp_path / "evil.txt").exists()
        assert not list(tmp_path.glob(".out.*partial"))  # temporary folder cleaned up


def test_escaping_symlink_in_tar_is_refused(tmp_path):
    arc = _tar(tmp_path / "l.tar.gz", {"a/f.txt": b"1"}, links=[("a/link", "../../etc/passwd")])
    with pytest.raises(DatasetError, match="climbs out"):
        extract_archive(arc, tmp_path / "out")
    arc = _tar(tmp_path / "l2.tar.gz", {"a/f.txt": b"1"}, links=[("a/link", "/etc/passwd")])
    with pytest.raises(DatasetError, match="absolute"):
        extract_archive(arc, tmp_path / "out")


def test_existing_target_and_non_archives(tmp_path):
    arc = _zip(tmp_path / "a.zip", {"f.txt": b"1"})
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        extract_archive(arc, tmp_path / "out")
    assert (extract_archive(arc, tmp_path / "out", force=True) / "f.txt").is_file()
    (tmp_path / "junk.bin").write_bytes(b"not an archive at all")
    with pytest.raises(DatasetError, match="not a zip or tar"):
        extract_archive(tmp_path / "junk.bin", tmp_path / "o2")
    with pytest.raises(DatasetError, match="not found"):
        extract_archive(tmp_path / "nope.zip", tmp_path / "o3")


def test_no_member_name_lands_outside_the_target(tmp_path):
    """Property: whatever the member name, extraction either refuses it or writes inside the target."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    segment = st.sampled_from(["a", "b", "..", ".", "", "c.txt"])
    name = st.lists(segment, min_size=1, max_size=6).map("/".join).filter(lambda s: s.strip("/.") != "")
    lead = st.sampled_from(["", "/", "./", "../", "C:/", "\\"])
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(lead, name)
    def check(prefix, member):
        k = next(counter)
        work = tmp_path / f"w{k}"
        work.mkdir()
        arc = work / "x.zip"
        with zipfile.ZipFile(arc, "w") as zf:
            zf.writestr(prefix + member, b"payload")
        target = work / "d1" / "d2" / "d3" / "d4" / "d5" / "d6" / "d7" / "out"  # any escape of <= 7 levels stays in work
        full = (prefix + member).replace("\\", "/")
        norm = posixpath.normpath(full)
        escapes = full.startswith("/") or full[1:2] == ":" or norm == ".." or norm.startswith("../")
        try:
            extract_archive(arc, target)
            refused = False
        except DatasetError:
            refused = True
        assert refused == escapes, (full, refused)
        written = [p for p in work.rglob("*") if p.is_file() and p != arc]
        assert all(target in p.parents for p in written), (prefix + member, written)

    check()
