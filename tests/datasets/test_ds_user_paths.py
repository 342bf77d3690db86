"""Paths a user passes to datasets and caches may start with ``~`` (the docs write ``"~/data"``)."""

from __future__ import annotations

import numpy as np
import pytest

from eventar.datasets import DailyDVS200, EventFolder, HARDVS, CachedDataset, DVSGesture, SyntheticGestures
from eventar.errors import DatasetError
from eventar.io import write_h5
from eventar.events import Recording


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a literal "~" folder would appear here
    return h


def test_dataset_root_and_cache_dir_expand_the_home_folder(home):
    ev = SyntheticGestures(split="test", n_per_class=1, cache=False).raw(0)[0]
    (home / "data" / "wave").mkdir(parents=True)
    write_h5(home / "data" / "wave" / "r0.h5", Recording(ev, 128, 128))
    ds = EventFolder("~/data")
    assert ds.root == home / "data" and len(ds) == 1
    cached = CachedDataset(ds, "~/.cache/eventar/frames")
    got, label = cached[0]
    np.testing.assert_array_equal(got, ev)
    assert label == 0
    assert cached.folder.parent == home / ".cache" / "eventar" / "frames"
    assert any(cached.folder.iterdir()), "the cache entry was not written under the home folder"
    assert not (home.parent / "work" / "~").exists(), "a literal '~' folder was created in the working directory"


@pytest.mark.parametrize("cls, kw", [(DVSGesture, {}), (HARDVS, {}), (DailyDVS200, {})])
def test_dataset_errors_name_the_expanded_root(home, cls, kw):
    with pytest.raises(DatasetError) as exc:
        cls("~/nowhere", split="train", **kw)
    assert str(home / "nowhere") in str(exc.value)


def test_synthetic_root_expands_the_home_folder(home):
    ds = SyntheticGestures(root="~/syn", split="test", n_per_class=1)
    assert ds.root == home / "syn"
