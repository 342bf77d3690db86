"""HARDVS on a temporary tree of .npz recordings with the official lists, trimmed."""

from __future__ import annotations

import numpy as np
import pytest

from eventar.datasets import HARDVS
from eventar.errors import DatasetError

KEEP = {"action_001", "action_002", "action_017"}


def _trim(src, dst, keep_line, limit):
    """Copy the first ``limit`` kept lines of an official list, keeping CRLF and no final newline."""
    lines = [ln for ln in src.read_bytes().split(b"\r\n") if ln and keep_line(ln.decode())][:limit]
    dst.write_bytes(b"\r\n".join(lines))
    return [ln.decode() for ln in lines]


def _events(seed, n=50):
    rng = np.random.default_rng(seed)
    return {"t": np.sort(rng.integers(0, 2_000_000, n)), "x": rng.integers(0, 346, n).astype(np.uint16),
            "y": rng.integers(0, 260, n).astype(np.uint16), "p": rng.integers(0, 2, n).astype(np.uint8)}


@pytest.fixture
def hardvs_root(tmp_path, splits_dir):
    root = tmp_path / "HARDVS"
    data = root / "MINI_HARDVS_files"
    truth = {}
    root.mkdir()
    for split, limit in (("train", 12), ("val", 6), ("test", 6)):
        lines = _trim(splits_dir / "hardvs" / f"{split}_label.txt", root / f"{split}_label.txt", lambda s: s.split("/")[0] in KEEP, limit)
        for k, line in enumerate(lines):
            sample = line.split()[0]
            (data / sample).parent.mkdir(parents=True, exist_ok=True)
            ev = _events(hash(sample) % 2**32)
            np.savez(data / f"{sample}.npz", **ev)
            truth[sample] = ev
    (root / "HARDVS_300_class.txt").write_bytes((splits_dir / "hardvs" / "HARDVS_300_class.txt").read_bytes())
    return root, truth


def test_official_splits_labels_and_events(hardvs_root):
    root, truth = hardvs_root
    ds = HARDVS(root, split="train")
    assert len(ds) == 12 and ds.sensor_size == (346, 260, 2) and len(ds.classes) == 300
    assert ds.classes[0] == "L type clamp back" and ds.classes[1] == "wink_ Blink an eye"
    for i, f in enumerate(ds.files):
        sample = f.relative_to(ds.data_dir).as_posix()[:-4]
        ev, label = ds[i]
        assert label == int(sample[7:10]) - 1  # label = NNN - 1 (0-based)
        np.testing.assert_array_equal(ev["t"], truth[sample]["t"])
        np.testing.assert_array_equal(ev["x"], truth[sample]["x"])
    assert set(ds.targets) <= {0, 1, 16}
    sizes = {s: len(HARDVS(root, split=s)) for s in ("val", "test")}
    assert sizes == {"val": 6, "test": 6}
    files = [set(HARDVS(root, split=s).files) for s in ("train", "val", "test")]
    assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])


def test_one_based_list_is_refused_as_the_known_off_by_one(hardvs_root):
    root, _ = hardvs_root
    lines = (root / "val_label.txt").read_text().splitlines()
    shifted = [" ".join(ln.split()[:-1] + [str(int(ln.split()[-1]) + 1)]) for ln in lines]
    (root / "val_label.txt").write_text("\n".join(shifted))
    with pytest.raises(DatasetError, match=r"val_label\.txt:1: .*looks 1-based"):
        HARDVS(root, split="val")


def test_missing_recordings_error_or_skip(hardvs_root):
    root, _ = hardvs_root
    victim = sorted((root / "MINI_HARDVS_files").rglob("*.npz"))[0]
    victim.unlink()
    with pytest.raises(DatasetError, match=r"1 of the \d+ recordings listed in .* are missing .*missing='skip'"):
        for s in ("train", "val", "test"):
            HARDVS(root, split=s)
    total = sum(len(HARDVS(root, split=s, missing="skip")) for s in ("train", "val", "test"))
    assert total == 23


def test_missing_root_and_lists_say_how_to_get_them(tmp_path, hardvs_root):
    with pytest.raises(DatasetError, match="MINI_HARDVS_files.zip"):
        HARDVS(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"train list not found; looked for .*train_label\.txt.*Event-AHU"):
        HARDVS(tmp_path / "empty")
    root, _ = hardvs_root
    (root / "MINI_HARDVS_files").rename(root / "elsewhere")
    with pytest.raises(DatasetError, match=r"expected MINI_HARDVS_files/action_NNN/<recording>\.npz"):
        HARDVS(root)


def test_exact_6_3_1_val_list(hardvs_root, splits_dir):
    root, _ = hardvs_root
    src = splits_dir / "hardvs" / "exact_6_3_1" / "HARDVS_sampled_val_6_3_1.txt"
    (root / "exact_6_3_1").mkdir()
    kept = [ln for ln in src.read_text().splitlines() if ln.split("/")[2] in KEEP][:5]
    (root / "exact_6_3_1" / src.name).write_text("\r\n".join(kept) + "\r\n")
    for ln in kept:
        sample = "/".join(ln.split("\t")[0].split("/")[2:4])
        (root / "MINI_HARDVS_files" / sample).parent.mkdir(parents=True, exist_ok=True)
        np.savez(root / "MINI_HARDVS_files" / f"{sample}.npz", **_events(1))
    ds = HARDVS(root, split="val", protocol="exact_6_3_1")
    assert len(ds) == 5 and all(ds.target_of(i) == int(f.parent.name[7:]) - 1 for i, f in enumerate(ds.files))
    with pytest.raises(DatasetError, match=r"HARDVS_sampled_train_6_3_1\.txt.*ExACT"):
        HARDVS(root, split="train", protocol="exact_6_3_1")


def test_events_outside_the_sensor_are_refused(hardvs_root):
    root, _ = hardvs_root
    ds = HARDVS(root, split="test")
    bad = _events(3)
    bad["x"][4] = 400
    np.savez(ds.files[0], **bad)
    with pytest.raises(DatasetError, match="outside the 346×260"):
        ds[0]


def test_zip_of_zips_release_extracts_into_a_readable_root(hardvs_root, tmp_path):
    """MINI_HARDVS_files.zip holds action_NNN.zip files; extract_archive(nested_zips=True) unpacks both levels."""
    import io
    import zipfile

    from eventar.datasets import extract_archive

    root, truth = hardvs_root
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as oz:
        for action in sorted((root / "MINI_HARDVS_files").iterdir()):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as iz:
                for f in sorted(action.iterdir()):
                    iz.write(f, f"{action.name}/{f.name}")
            oz.writestr(f"MINI_HARDVS_files/{action.name}.zip", inner.getvalue())
    new_root = tmp_path / "fresh"
    new_root.mkdir()
    (new_root / "MINI_HARDVS_files.zip").write_bytes(outer.getvalue())
    for name in ("train_label.txt", "val_label.txt", "test_label.txt"):
        (new_root / name).write_bytes((root / name).read_bytes())
    extract_archive(new_root / "MINI_HARDVS_files.zip", new_root / "MINI_HARDVS_files", nested_zips=True)
    ds = HARDVS(new_root, split="val")
    assert len(ds) == 6
    sample = ds.files[0].relative_to(ds.data_dir).as_posix()[:-4]
    np.testing.assert_array_equal(ds[0][0]["t"], truth[sample]["t"])
