"""DailyDVS-200 on a temporary tree holding a real 320×240 .aedat4 recording under the official list names."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from eventar.datasets import DailyDVS200
from eventar.errors import DatasetError
from eventar.io import read_events

SAMPLE = "neuromorphs__tonic/sample.aedat4"  # a real DVXplorer-class 320×240 recording


def _pick(path, n, keep=lambda s: True):
    return [ln for ln in path.read_text().splitlines() if ln.strip() and keep(ln)][:n]


@pytest.fixture
def daily_root(tmp_path, real_dir, splits_dir):
    src = splits_dir / "dailydvs200"
    val = _pick(src / "val.txt", 6, lambda s: "P4M" not in s) + _pick(src / "val.txt", 3, lambda s: "P4M" in s)
    test = _pick(src / "test.txt", 4, lambda s: "P4M" not in s) + val[-3:]  # participant 4 is in both lists
    lists = {"train": _pick(src / "train.txt", 5), "val": val, "test": test}
    root = tmp_path / "DailyDVS-200"
    (root / "train_val_test").mkdir(parents=True)
    for split, lines in lists.items():
        (root / "train_val_test" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for ln in lines:
            dst = root / ln.split()[0]
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copyfile(real_dir / SAMPLE, dst)
    (root / "resource").mkdir()
    shutil.copy(src / "action_description.csv", root / "resource")
    return root, lists


def test_lengths_labels_sensor_and_events(daily_root, real_dir):
    root, lists = daily_root
    ds = DailyDVS200(root, split="train")
    assert len(ds) == 5 and ds.sensor_size == (320, 240, 2) and len(ds.classes) == 200
    assert ds.classes[0] == "yawn"
    assert ds.targets == [int(ln.split()[1]) for ln in lists["train"]]
    assert all(f.parent.name == f"action_{lab + 1}" for f, lab in zip(ds.files, ds.targets))
    ev, label = ds[0]
    assert label == ds.targets[0]
    assert len(ev) == len(read_events(real_dir / SAMPLE).events) == 111954


def test_val_test_overlap_reported_and_dedup_protocol(daily_root):
    root, lists = daily_root
    with pytest.warns(UserWarning, match="3 recordings are in both val.txt and test.txt"):
        val = DailyDVS200(root, split="val")
    assert len(val) == 9 and len(val.val_test_overlap) == 3
    assert all("P4M" in s for s in val.val_test_overlap)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dedup = DailyDVS200(root, split="val", dedup=True)
        test = DailyDVS200(root, split="test", dedup=True)
    assert len(dedup) == 6 and len(test) == 7
    assert not set(dedup.files) & set(test.files)
    assert DailyDVS200(root, split="train").val_test_overlap is None


def test_official_lists_have_the_published_overlap(splits_dir, tmp_path):
    """On the full published lists: 555 shared val/test recordings, all from participant 4."""
    root = tmp_path / "r"
    (root / "action_1").mkdir(parents=True)
    with pytest.warns(UserWarning, match="555 recordings"):
        ds = DailyDVS200(root, split="val", split_dir=splits_dir / "dailydvs200", missing="skip")
    assert len(ds.val_test_overlap) == 555 and all("P4M" in s for s in ds.val_test_overlap)
    assert len(ds.missing) == 3735 and len(ds) == 0


def test_attributes_from_all_data_json(daily_root):
    root, lists = daily_root
    recs = [{"FileName": ln.split()[0].split("/")[1][:-7], "Scene": "S1", "Indoor/Outdoor": "Indoor", "Perspective": ""} for ln in lists["train"][:4]]
    (root / "all_data.json").write_text(json.dumps(recs))
    ds = DailyDVS200(root, split="train")
    assert ds.has_attributes and ds.attributes(1)["Indoor/Outdoor"] == "Indoor"
    with pytest.raises(DatasetError, match="no record with FileName"):
        ds.attributes(4)
    (root / "all_data.json").unlink()
    with pytest.raises(DatasetError, match="no all_data.json"):
        DailyDVS200(root, split="train").attributes(0)


def test_broken_layouts_name_what_was_expected(daily_root, real_dir, tmp_path):
    root, lists = daily_root
    with pytest.raises(DatasetError, match=r"is not a folder.*QiWang233"):
        DailyDVS200(tmp_path / "none")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DatasetError, match=r"train list not found; looked for .*train_val_test/train\.txt"):
        DailyDVS200(tmp_path / "bare")
    victim = root / lists["train"][2].split()[0]
    victim.unlink()
    with pytest.raises(DatasetError, match=r"1 of the 5 recordings listed .* missing .*" + victim.name):
        DailyDVS200(root, split="train")
    assert len(DailyDVS200(root, split="train", missing="skip")) == 4
    # A recording from another sensor placed under a DailyDVS-200 name.
    shutil.copyfile(real_dir / "shiba24__event-vision-library/sample.aedat4", victim)
    ds = DailyDVS200(root, split="train")
    with pytest.raises(DatasetError, match=r"346×260 recording, expected 320×240"):
        ds[2]
    bad = root / "train_val_test" / "train.txt"
    first = lists["train"][0].split()
    bad.write_text(f"{first[0]} {int(first[1]) + 1}\n")
    with pytest.raises(DatasetError, match=r"train\.txt:1: label .* disagrees with folder"):
        DailyDVS200(root, split="train")
