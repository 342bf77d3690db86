"""CachedDataset: hit, miss, invalidation on a changed transform, recovery, concurrent readers."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from eventar.datasets import CachedDataset, SyntheticGestures, fingerprint
from eventar.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class CountImage:
    """Test transform: (P, H//cell, W//cell) event counts."""

    cell: int = 8

    def __call__(self, ev):
        img = np.zeros((2, 128 // self.cell, 128 // self.cell), np.int32)
        np.add.at(img, (ev["p"], ev["y"] // self.cell, ev["x"] // self.cell), 1)
        return img


def _ds(root, **kw):
    return SyntheticGestures(root=root, split="test", n_per_class=1, cache=False, **kw)


def test_miss_then_hit_returns_identical_sample(tmp_path):
    src = _ds(tmp_path, transform=CountImage(8))
    cached = CachedDataset(src, tmp_path / "cache")
    first = cached[3]
    assert (cached.misses, cached.hits) == (1, 0)
    second = cached[3]
    assert (cached.misses, cached.hits) == (1, 1)
    np.testing.assert_array_equal(first[0], src[3][0])
    np.testing.assert_array_equal(second[0], first[0])
    assert second[1] == 3 and isinstance(second[1], int)
    # A new object over the same folder hits too (the cache outlives the process object).
    again = CachedDataset(_ds(tmp_path, transform=CountImage(8)), tmp_path / "cache")
    again[3]
    assert again.hits == 1 and again.key == cached.key
    assert len(cached) == len(src) and cached.sensor_size == (128, 128, 2)


def test_changed_transform_parameter_never_serves_stale_data(tmp_path):
    a = CachedDataset(_ds(tmp_path, transform=CountImage(8)), tmp_path / "cache")
    b = CachedDataset(_ds(tmp_path, transform=CountImage(16)), tmp_path / "cache")
    assert a.key != b.key and a.folder != b.folder
    assert a[0][0].shape == (2, 16, 16)
    assert b[0][0].shape == (2, 8, 8) and b.misses == 1
    # Other dataset parameters are part of the key too.
    assert CachedDataset(_ds(tmp_path, transform=CountImage(8), seed=1), tmp_path / "cache").key != a.key
    lam1 = CachedDataset(_ds(tmp_path, transform=lambda e: e[:10]), tmp_path / "c").key
    lam2 = CachedDataset(_ds(tmp_path, transform=lambda e: e[:20]), tmp_path / "c").key
    assert lam1 != lam2


def test_fingerprint_is_stable_and_describes_dataclasses():
    assert fingerprint(CountImage(8)) == fingerprint(CountImage(8))
    assert fingerprint(CountImage(8)) != fingerprint(CountImage(9))
    assert fingerprint(np.arange(3)) != fingerprint(np.arange(4))
    assert fingerprint({"b": 1, "a": 2.0}) == fingerprint({"a": 2.0, "b": 1})


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_entry_is_detected_and_rebuilt(tmp_path, damage):
    cached = CachedDataset(_ds(tmp_path, transform=CountImage(8)), tmp_path / "cache")
    good = cached[2][0]
    entry = cached.entry_path(2)
    raw = entry.read_bytes()
    entry.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00" * len(raw), "empty": b""}[damage])
    fresh = CachedDataset(_ds(tmp_path, transform=CountImage(8)), tmp_path / "cache")
    np.testing.assert_array_equal(fresh[2][0], good)
    assert fresh.misses == 1
    assert fresh[2] is not None and fresh.hits == 1  # the rebuilt entry is good again


def test_entry_of_another_index_is_not_served(tmp_path):
    cached = CachedDataset(_ds(tmp_path, transform=CountImage(8)), tmp_path / "cache")
    cached[0], cached[1]
    cached.entry_path(1).write_bytes(cached.entry_path(0).read_bytes())
    np.testing.assert_array_equal(cached[1][0], _ds(tmp_path, transform=CountImage(8))[1][0])


def test_structured_events_tuples_and_post_transform(tmp_path):
    src = _ds(tmp_path, transforms=lambda ev, t: ((ev, np.float32(len(ev))), {"label": t, "n": 2.5}))
    cached = CachedDataset(src, tmp_path / "cache", transform=lambda d: d[0][:5])
    for _ in range(2):
        data, target = cached[4]
        np.testing.assert_array_equal(data, src.raw(4)[0][:5])
        assert target == {"label": 4, "n": 2.5}


def test_unstorable_sample_raises(tmp_path):
    cached = CachedDataset(_ds(tmp_path, transform=lambda e: object()), tmp_path / "cache")
    with pytest.raises(DatasetError, match="cannot store"):
        cached[0]


def _read_all(args):
    cache_dir, order = args
    cached = CachedDataset(_ds(cache_dir, transform=CountImage(8)), cache_dir / "cache")
    return {i: cached[i][0].tobytes() for i in order}


def test_concurrent_readers_fill_and_share_one_cache(tmp_path):
    orders = [(tmp_path, list(range(11))), (tmp_path, list(reversed(range(11)))), (tmp_path, list(range(0, 11, 2)) * 2)]
    with ProcessPoolExecutor(3, mp_context=mp.get_context("fork")) as ex:
        results = list(ex.map(_read_all, orders))
    src = _ds(tmp_path, transform=CountImage(8))
    for res in results:
        for i, b in res.items():
            assert b == src[i][0].tobytes()
    cached = CachedDataset(src, tmp_path / "cache")
    assert not list(cached.folder.glob(".*partial*")), "temporary files left behind"
    assert len(list(cached.folder.glob("*.npz"))) == 11


def test_eventar_representations_cache_and_invalidate(tmp_path):
    transforms = pytest.importorskip("eventar.transforms")
    frames8 = transforms.ToFrame(sensor_size=(128, 128, 2), n_time_bins=8)
    frames4 = transforms.ToFrame(sensor_size=(128, 128, 2), n_time_bins=4)
    clouds = transforms.ToPointCloud(sensor_size=(128, 128, 2), n_points=64)
    c8 = CachedDataset(_ds(tmp_path, transform=frames8), tmp_path / "cache")
    c4 = CachedDataset(_ds(tmp_path, transform=frames4), tmp_path / "cache")
    cp = CachedDataset(_ds(tmp_path, transform=clouds), tmp_path / "cache")
    assert len({c8.key, c4.key, cp.key}) == 3
    for _ in range(2):  # miss, then hit
        assert c8[1][0].shape[0] == 8 and c4[1][0].shape[0] == 4
        direct = _ds(tmp_path, transform=clouds)[1][0]
        got = cp[1][0]
        for a, b in zip(direct if isinstance(direct, tuple) else (direct,), got if isinstance(got, tuple) else (got,)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (c8.hits, c4.hits, cp.hits) == (1, 1, 1)
