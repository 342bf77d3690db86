"""atomic_output: nothing partial is ever left, existing outputs need force."""

import pytest

from eventar.errors import OutputExistsError
from eventar.io.atomic import atomic_output


def test_success_renames_and_leaves_no_temp(tmp_path):
    out = tmp_path / "sub" / "a.bin"
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent and tmp != out
        tmp.write_bytes(b"abc")
        assert not out.exists()
    assert out.read_bytes() == b"abc"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.bin"]


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "a.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "a.bin"
    out.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--force"):
        with atomic_output(out):
            pass
    assert out.read_bytes() == b"old"
    with atomic_output(out, force=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"


def test_output_gets_a_plain_open_mode(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"x")
        with open(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644
