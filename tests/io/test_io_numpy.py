"""npy / npz: structured (eventar, tonic), separate t/x/y/p arrays (HARDVS), N×4 with stated or inferred order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventar.errors import FormatError
from eventar.events import EVENT_DTYPE, make_events
from eventar.io import iter_events, read_events, read_header, read_npy

TONIC_STRUCT = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


@pytest.fixture
def ev():
    rng = np.random.default_rng(0)
    n = 3000
    return make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, 346, n), rng.integers(0, 260, n),
                       rng.integers(0, 2, n))


def _tonic(ev):
    out = np.empty(len(ev), TONIC_STRUCT)
    for f in "txyp":
        out[f] = ev[f]
    return out


def test_structured_eventar_and_tonic(tmp_path: Path, ev):
    np.save(tmp_path / "a.npy", ev)
    np.save(tmp_path / "b.npy", _tonic(ev))
    for name in ("a.npy", "b.npy"):
        rec = read_events(tmp_path / name)
        assert np.array_equal(rec.events, ev) and rec.format == "numpy npy"
        assert rec.sensor_size == (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1, 2)
        assert "max(x)+1" in rec.meta["sensor_size_source"]
    np.savez_compressed(tmp_path / "c.npz", events=_tonic(ev))
    assert np.array_equal(read_events(tmp_path / "c.npz").events, ev)


def test_hardvs_style_separate_arrays(tmp_path: Path, ev):
    """HARDVS compact files: an .npz with 1-D arrays t, x, y, p (p may be -1/1)."""
    np.savez_compressed(tmp_path / "dvSave-2021_10_15_19_18_02.npz", t=ev["t"].astype(np.float64),
                        x=ev["x"].astype(np.int32), y=ev["y"].astype(np.int32), p=np.where(ev["p"] > 0, 1, -1))
    rec = read_events(tmp_path / "dvSave-2021_10_15_19_18_02.npz")
    assert np.array_equal(rec.events, ev) and rec.format == "numpy npz"
    parts = list(iter_events(tmp_path / "dvSave-2021_10_15_19_18_02.npz", 128))
    assert max(len(p) for p in parts) == 128 and np.array_equal(np.concatenate(parts), ev)


def test_stored_sensor_size_wins(tmp_path: Path, ev):
    np.savez(tmp_path / "s.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"], sensor_size=np.array([346, 260, 2]))
    np.savez(tmp_path / "wh.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"], width=640, height=480)
    assert read_events(tmp_path / "s.npz").sensor_size == (346, 260, 2)
    assert read_header(tmp_path / "wh.npz").sensor_size == (640, 480, 2)


@pytest.mark.parametrize("order", ["txyp", "xypt", "ptyx"])
def test_matrix_with_stated_order(tmp_path: Path, ev, order):
    mat = np.stack([ev[c].astype(np.int64) for c in order], axis=1)
    np.save(tmp_path / "m.npy", mat)
    rec = read_npy(tmp_path / "m.npy", columns=order)
    assert np.array_equal(rec.events, ev) and rec.meta["columns"] == order


def test_matrix_order_inferred_and_ms_unit(tmp_path: Path, ev):
    # tonic's preprocessed DVSGesture layout: columns x, y, p, t with t in ms
    ms = ev.copy()
    ms["t"] //= 1000
    mat = np.stack([ms["x"], ms["y"], ms["p"], ms["t"]], axis=1).astype(np.float64)
    np.save(tmp_path / "tonic_gesture.npy", mat)
    rec = read_events(tmp_path / "tonic_gesture.npy")
    assert rec.meta["columns"] == "xypt" and rec.meta["columns_inferred"] is True
    assert np.array_equal(rec.events["t"], ms["t"])
    rec_ms = read_npy(tmp_path / "tonic_gesture.npy", columns="xypt", t_unit="ms")
    assert np.array_equal(rec_ms.events["t"], ms["t"] * 1000)
    assert np.array_equal(np.concatenate(list(iter_events(tmp_path / "tonic_gesture.npy", 500))), rec.events)


def test_ambiguous_matrix_asks_for_columns(tmp_path: Path):
    np.save(tmp_path / "amb.npy", np.array([[0, 1, 0, 1], [1, 1, 0, 1]]))
    with pytest.raises(FormatError, match="read_npy"):
        read_events(tmp_path / "amb.npy")


@pytest.mark.parametrize(
    "arr, words",
    [
        (np.zeros((5, 3)), "N×4"),
        (np.array([[0, -3, 1, 1]]), "pixel index"),
        (np.array([[0, 3, 1, 7]]), "polarity"),
        (np.zeros(4, dtype=[("a", "i4"), ("b", "i4")]), "fields"),
        (np.array([(0, 1, 1, 0), (5, 1, 1, 3)], dtype=EVENT_DTYPE), "event 1: p = 3"),
    ],
)
def test_bad_arrays(tmp_path: Path, arr, words):
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(FormatError, match=words):
        read_npy(tmp_path / "bad.npy", columns="txyp")
    if arr.dtype == EVENT_DTYPE:  # the streaming path checks too
        with pytest.raises(FormatError, match=words):
            list(iter_events(tmp_path / "bad.npy", 1))


def test_truncated_npy_and_lying_header(tmp_path: Path, ev):
    np.save(tmp_path / "e.npy", ev)
    raw = (tmp_path / "e.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError, match="bytes"):
        read_events(tmp_path / "cut.npy")
    big = raw.replace(b"(3000,)", b"(9999,)", 1)  # same header length, claims more rows than are stored
    (tmp_path / "big.npy").write_bytes(big)
    with pytest.raises(FormatError, match="only"):
        read_events(tmp_path / "big.npy")
    np.savez(tmp_path / "z.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"])
    rawz = (tmp_path / "z.npz").read_bytes()
    (tmp_path / "zcut.npz").write_bytes(rawz[: len(rawz) - 200])
    with pytest.raises(FormatError):
        read_events(tmp_path / "zcut.npz")
