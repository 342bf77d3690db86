"""EventFolder: root/<class>/<recording> in any readable format."""

from __future__ import annotations

import numpy as np
import pytest

from eventar.datasets import EventFolder, SyntheticGestures
from eventar.errors import DatasetError
from eventar.events import Recording
from eventar.io import write_aedat31, write_h5


def _tree(tmp_path):
    syn = SyntheticGestures(split="test", n_per_class=1, cache=False)
    root = tmp_path / "tree"
    (root / "b_wave").mkdir(parents=True)
    (root / "a_rotate" / "session1").mkdir(parents=True)
    ev0, ev1, ev2 = syn.raw(0)[0], syn.raw(6)[0], syn.raw(1)[0]
    write_aedat31(root / "a_rotate" / "session1" / "r0.aedat", ev0)
    np.savez(root / "a_rotate" / "r1.npz", t=ev2["t"], x=ev2["x"], y=ev2["y"], p=ev2["p"])
    write_h5(root / "b_wave" / "w0.h5", Recording(ev1, 128, 128))
    (root / "b_wave" / "notes.txt").write_text("not a recording")
    (root / "b_wave" / ".w1.h5.partial").write_bytes(b"half")
    return root, {"a_rotate/r1.npz": ev2, "a_rotate/session1/r0.aedat": ev0, "b_wave/w0.h5": ev1}


def test_reads_every_format_with_folder_labels(tmp_path):
    root, truth = _tree(tmp_path)
    ds = EventFolder(root)
    assert ds.classes == ["a_rotate", "b_wave"]
    assert len(ds) == 3 and ds.targets == [0, 0, 1]
    assert ds.sensor_size == (128, 128, 2)
    for i, path in enumerate(ds.files):
        ev, label = ds[i]
        rel = path.relative_to(root).as_posix()
        np.testing.assert_array_equal(ev, truth[rel])
        assert label == ds.classes.index(rel.split("/")[0])


def test_class_order_and_extension_filter(tmp_path):
    root, _ = _tree(tmp_path)
    ds = EventFolder(root, classes=["b_wave", "a_rotate"], extensions=[".npz", ".h5"])
    assert [p.name for p in ds.files] == ["w0.h5", "r1.npz"]
    assert ds.targets == [0, 1]
    assert ds.transform is None
    assert EventFolder(root, transform=len)[0][0] == len(ds[1][0])


def test_broken_layouts_say_what_was_expected(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        EventFolder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.npz").write_bytes(b"")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        EventFolder(tmp_path / "flat")
    (tmp_path / "flat" / "c").mkdir()
    with pytest.raises(DatasetError, match="no recording files"):
        EventFolder(tmp_path / "flat")
    with pytest.raises(DatasetError, match=r"\['zzz'\] not found"):
        EventFolder(tmp_path / "flat", classes=["c", "zzz"])
