"""HDF5: eventar's layout round-trips every format exactly, DSEC files read, memory stays flat."""

from __future__ import annotations

import json
import os
import tracemalloc

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventar.errors import EventarError, EventValidationError, FormatError, OutputExistsError
from eventar.events import EVENT_DTYPE, Recording, make_events
from eventar.io import iter_events, read_events, read_header, write_h5
from eventar.io.hdf5 import meta_to_json

from fuzz_helpers import HOW, damage, exercise


def _real_files():
    from conftest import REAL_DIR  # noqa: WPS433 (tests/ is on sys.path in prepend mode)

    if not (REAL_DIR / "EXPECTED.json").is_file():
        return []
    return sorted(json.loads((REAL_DIR / "EXPECTED.json").read_text())["files"])


def _assert_same_recording(back, rec, meta=None):
    assert back.events.dtype == EVENT_DTYPE
    assert np.array_equal(back.events, rec.events)
    assert back.sensor_size == rec.sensor_size
    assert back.camera == rec.camera
    assert back.t_offset == rec.t_offset
    assert back.format == "eventar HDF5"
    assert back.meta["source_format"] == rec.format
    original = json.loads(meta_to_json(rec.meta if meta is None else meta))
    container = {"h5_layout", "h5_file"}  # describe the file being read, so they change by design
    assert {k: back.meta[k] for k in original if k not in container} == {k: v for k, v in original.items() if k not in container}


@pytest.mark.parametrize("rel", _real_files() or ["<no real files>"])
def test_round_trip_every_real_file(real_dir, rel, tmp_path):
    src = real_dir / rel
    rec = read_events(src)
    out = tmp_path / "r.h5"
    assert write_h5(out, rec) == len(rec)
    _assert_same_recording(read_events(out), rec)
    # streamed write from iter_events gives the same file content
    out2 = tmp_path / "s.h5"
    head = read_header(src)  # streamed: the metadata is the header's (a whole read may add counts)
    write_h5(out2, iter_events(src, 10_000), header=head, compression="lzf")
    _assert_same_recording(read_events(out2), rec, meta=head.meta)


def _rec(n=5000, t0=1_605_537_493_718_345, t_offset=0, seed=0):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, 3_000_000, n))
    ev = make_events(t, rng.integers(0, 346, n), rng.integers(0, 260, n), rng.integers(0, 2, n))
    meta = {"streams": {"0": {"type": "events", "width": 346, "height": 260}}, "n": np.int64(3), "arr": np.arange(3)}
    return Recording(ev, 346, 260, "AEDAT 4.0", "DAVIS346_00000002", t_offset, meta)


def test_layout_is_dsec_compatible(tmp_path):
    rec = _rec(t_offset=1000)
    out = tmp_path / "a.h5"
    write_h5(out, rec, chunk_events=1024)
    with h5py.File(out, "r") as f:
        ev = f["events"]
        assert {k: ev[k].dtype.str for k in "xytp"} == {"x": "<u2", "y": "<u2", "t": "<i8", "p": "|u1"}
        assert all(ev[k].compression in ("gzip", "lzf") and ev[k].chunks == (1024,) for k in "xytp")
        t, t_offset = ev["t"][:], int(f["t_offset"][()])
        assert t[0] == 0  # stored t starts at zero ...
        assert np.array_equal(t + t_offset, rec.events["t"] + rec.t_offset)  # ... absolute = t + t_offset
        ms = f["ms_to_idx"][:]
        assert len(ms) == t[-1] // 1000 + 1
        brute = np.array([np.argmax(t >= i * 1000) for i in range(len(ms))])
        assert np.array_equal(ms, brute)
        a = f.attrs
        assert list(a["sensor_size"]) == [346, 260] and a["camera"] == "DAVIS346_00000002"
        assert a["source_format"] == "AEDAT 4.0" and "1 = ON" in a["polarity_convention"]
        assert a["n_events"] == len(rec)
    back = read_events(out)
    _assert_same_recording(back, rec)
    assert back.meta["arr"] == [0, 1, 2] and back.meta["n"] == 3


def test_chunked_generator_write_equals_whole_write(tmp_path):
    rec = _rec(n=20_000, t0=5)
    gen = (rec.events[i : i + 777] for i in range(0, len(rec), 777))
    write_h5(tmp_path / "g.h5", gen, header=rec)
    write_h5(tmp_path / "w.h5", rec)
    a, b = h5py.File(tmp_path / "g.h5", "r"), h5py.File(tmp_path / "w.h5", "r")
    with a, b:
        for k in ("events/x", "events/y", "events/t", "events/p", "ms_to_idx", "t_offset"):
            assert np.array_equal(a[k][()], b[k][()]), k


def test_headerless_generator_infers_sensor(tmp_path):
    ev = make_events([3, 4], [5, 9], [2, 1], [1, 0])
    write_h5(tmp_path / "h.h5", iter([ev]))
    back = read_events(tmp_path / "h.h5")
    assert back.sensor_size == (10, 3, 2) and np.array_equal(back.events, ev)


def test_empty_recording(tmp_path):
    rec = Recording(np.zeros(0, EVENT_DTYPE), 128, 128, "AEDAT 2.0", "DVS128", 0, {})
    write_h5(tmp_path / "e.h5", rec)
    back = read_events(tmp_path / "e.h5")
    assert len(back) == 0 and back.sensor_size == (128, 128, 2)
    assert list(iter_events(tmp_path / "e.h5")) == []


def test_memory_stays_flat_when_fed_chunks(tmp_path):
    chunk, n_chunks = 250_000, 16  # 4 M events = 60 MB of events in total
    rng = np.random.default_rng(0)
    x = rng.integers(0, 640, chunk).astype(np.uint16)

    def gen():
        for i in range(n_chunks):
            ev = np.empty(chunk, EVENT_DTYPE)
            ev["t"] = np.arange(i * chunk, (i + 1) * chunk)
            ev["x"] = x
            ev["y"] = x % 480
            ev["p"] = x & 1
            yield ev

    head = Recording(np.zeros(0, EVENT_DTYPE), 640, 480, "synthetic", "", 0, {})
    tracemalloc.start()
    try:
        n = write_h5(tmp_path / "big.h5", gen(), header=head, compression="lzf", chunk_events=1 << 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = n * EVENT_DTYPE.itemsize
    assert n == chunk * n_chunks
    assert peak < 6 * chunk * EVENT_DTYPE.itemsize < total / 2, (peak, total)


def test_write_errors_leave_nothing(tmp_path):
    rec = _rec(n=100)
    out = tmp_path / "x.h5"
    with pytest.raises(EventarError, match="compression"):
        write_h5(out, rec, compression="blosc")
    bad = rec.events.copy()
    bad["t"][50] = bad["t"][49] - 1
    with pytest.raises(EventValidationError, match="event 50"):
        write_h5(out, Recording(bad, 346, 260))
    outside = rec.events.copy()
    outside["x"][7] = 400
    with pytest.raises(EventValidationError, match="event 7"):
        write_h5(out, Recording(outside, 346, 260))

    def dies():
        yield rec.events[:10]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_h5(out, dies(), header=rec)
    assert list(tmp_path.iterdir()) == []
    write_h5(out, rec)
    with pytest.raises(OutputExistsError):
        write_h5(out, rec)
    write_h5(out, _rec(n=10), force=True)
    assert len(read_events(out)) == 10


def test_reads_dsec_layout(tmp_path):
    path = tmp_path / "events.h5"
    n = 3000
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(0, 2_000_000, n)).astype(np.uint32)
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["x"] = rng.integers(0, 640, n).astype(np.uint16)
        g["y"] = rng.integers(0, 480, n).astype(np.uint16)
        g["t"] = t
        g["p"] = rng.integers(0, 2, n).astype(np.uint8)
        f["ms_to_idx"] = np.searchsorted(t, np.arange(0, 2000) * 1000).astype(np.uint64)
        f["t_offset"] = np.int64(47_000_000_000)
        xs, ys, ps = g["x"][:], g["y"][:], g["p"][:]
    rec = read_events(path)
    assert rec.format == "DSEC HDF5" and rec.sensor_size == (640, 480, 2)
    assert rec.t_offset == 47_000_000_000
    assert np.array_equal(rec.events["t"], t.astype(np.int64))
    assert np.array_equal(rec.events["x"], xs) and np.array_equal(rec.events["y"], ys) and np.array_equal(rec.events["p"], ps)
    assert np.array_equal(np.concatenate(list(iter_events(path, 1000))), rec.events)


def test_sniffed_by_signature_even_with_userblock(tmp_path):
    path = tmp_path / "ub.dat"  # misleading extension on purpose
    with h5py.File(path, "w", userblock_size=512) as f:
        g = f.create_group("events")
        for k, dt in (("x", "u2"), ("y", "u2"), ("t", "u4"), ("p", "u1")):
            g[k] = np.zeros(3, dt)
    assert read_header(path).format == "DSEC HDF5"


def test_corrupt_or_foreign_h5_raise_format_error(tmp_path):
    rec = _rec(n=2000)
    good = tmp_path / "g.h5"
    write_h5(good, rec)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(FormatError):
        read_events(cut)
    other = tmp_path / "o.h5"
    with h5py.File(other, "w") as f:
        f["images"] = np.zeros(3)
    with pytest.raises(FormatError, match="events/x"):
        read_events(other)
    wrong = tmp_path / "w.h5"
    with h5py.File(wrong, "w") as f:
        g = f.create_group("events")
        for k in "xytp":
            g[k] = np.zeros(4 if k != "p" else 3, "u2")
    with pytest.raises(FormatError, match="one length"):
        read_events(wrong)


def test_output_mode_follows_umask(tmp_path):
    """The temporary file is created 0600; the final output must be readable like any new file."""
    old = os.umask(0o022)
    try:
        write_h5(tmp_path / "m.h5", _rec(n=10))
    finally:
        os.umask(old)
    assert (tmp_path / "m.h5").stat().st_mode & 0o777 == 0o644


def _gen_file(kind, folder):
    """A generated file of ``kind`` with known events (sensor 128×128), or skip when its writer is absent."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from prophesee_encoders import dat_bytes, evt2_words, evt3_words, raw_bytes

    rng = np.random.default_rng(7)
    n = 3000
    ev = make_events(1000 + np.sort(rng.integers(0, 3_000_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
    path = folder / f"f_{kind}"
    if kind in ("aedat31", "aedat2"):
        aw = pytest.importorskip("eventar.io.aedat_write")
        if kind == "aedat31":
            aw.write_aedat31(path, ev, 128, 128)
        else:
            aw.write_aedat2_dvs128(path, ev)
    elif kind == "evt2":
        path.write_bytes(raw_bytes(evt2_words(ev), ["% evt 2.0", "% geometry 128x128", "% end"]))
    elif kind == "evt3":
        path.write_bytes(raw_bytes(evt3_words(ev), ["% evt 3.0", "% geometry 128x128", "% end"]))
    elif kind == "dat":
        path.write_bytes(dat_bytes(ev, ["% Version 2", "% Width 128", "% Height 128"]))
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, ev)
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"], sensor_size=np.array([128, 128]))
    elif kind == "dsec":
        with h5py.File(path, "w") as f:
            g = f.create_group("events")
            for k in "xytp":
                g[k] = ev[k] if k != "t" else (ev["t"] - 1000).astype(np.uint32)
            f["t_offset"] = np.int64(1000)
            f.attrs["sensor_size"] = [128, 128]
        return path, Recording(ev, 128, 128)
    return path, Recording(ev, 128, 128)


@pytest.mark.parametrize("kind", ["aedat31", "aedat2", "evt2", "evt3", "dat", "npy", "npz", "dsec"])
def test_round_trip_every_format_generated(tmp_path, kind):
    path, truth = _gen_file(kind, tmp_path)
    rec = read_events(path)
    assert rec.sensor_size == (128, 128, 2)
    assert np.array_equal(rec.events["t"] + rec.t_offset, truth.events["t"])
    for f in "xyp":
        assert np.array_equal(rec.events[f], truth.events[f]), f
    assert rec.meta["source_file"] == str(path)  # one provenance key for every reader
    write_h5(tmp_path / "o.h5", rec)
    back = read_events(tmp_path / "o.h5")
    _assert_same_recording(back, rec)
    assert back.meta["source_file"] == str(path)  # the converted file remembers the raw one


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_corrupt_h5_only_eventar_errors(tmp_path, data):
    """Truncated / bit-flipped / metadata-scribbled eventar HDF5 files: decoded or FormatError, nothing else
    (h5py raises OSError, RuntimeError, KeyError, TypeError... on such files)."""
    seed = tmp_path / "seed.h5"
    if not seed.exists():
        write_h5(seed, _rec(n=300))
    raw = seed.read_bytes()
    path = tmp_path / "f.h5"
    path.write_bytes(damage(data, raw, data.draw(st.sampled_from(HOW), label="how"), header_span=2048))
    exercise(path, len(raw))


def test_plain_and_tonic_arrays_are_accepted(tmp_path):
    ev = _rec(n=50).events
    tonic_like = np.zeros(50, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    for f in "xytp":
        tonic_like[f] = ev[f]
    for i, arr in enumerate((ev, tonic_like)):
        write_h5(tmp_path / f"{i}.h5", arr, header=Recording(ev[:0], 346, 260))
        assert np.array_equal(read_events(tmp_path / f"{i}.h5").events, ev)


def test_corrupt_huge_shape_is_refused_before_reading(tmp_path):
    """A shape far beyond what the file stores (HDF5 would hand back fill values) is a FormatError."""
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for k, dt in (("x", "u2"), ("y", "u2"), ("t", "i8"), ("p", "u1")):
            d = g.create_dataset(k, shape=(10,), maxshape=(None,), dtype=dt, chunks=(4,), compression="gzip")
            d[:] = 1 if k != "t" else np.arange(10)
            d.resize((10**10,))  # only 3 chunks are stored
    with pytest.raises(FormatError, match="claims 10,000,000,000 values"):
        read_header(path)
