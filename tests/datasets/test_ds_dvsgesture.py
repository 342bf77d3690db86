"""DVSGesture on fabricated IBM-layout trials (AEDAT 3.1 + labels CSV) and on a tonic-style npy copy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from eventar.datasets import DVSGesture
from eventar.datasets.dvsgesture import CLASSES
from eventar.errors import DatasetError
from eventar.events import make_events
from eventar.io import write_aedat31

T0 = 80_000_000  # IBM trials start tens of seconds into the recording


def _rows(skip=(), repeat=(8,)):
    """Label rows: classes 1..11 (minus ``skip``), ``repeat`` classes twice (arm roll, as in IBM's files)."""
    classes = [c for c in range(1, 12) if c not in skip]
    classes = classes[:8] + list(repeat) + classes[8:] if repeat else classes
    rows, t = [], T0
    for c in classes:
        rows.append((c, t, t + 1_000_000))
        t += 1_200_000
    return rows


def _write_trial(folder, name, rows, n=40):
    """Events only inside the labelled windows, x = 10·class so a sample's content names its window."""
    ts, xs, ys = [], [], []
    for c, a, b in rows:
        ts.append(np.linspace(a, b - 1, n).astype(np.int64))
        xs.append(np.full(n, 10 * c))
        ys.append(np.arange(n) % 128)
    ts.append(np.array([T0 - 5000, rows[-1][2] + 5000]))  # two events outside every window
    xs.append(np.array([127, 127]))
    ys.append(np.array([0, 0]))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    ev = make_events(t[order], np.concatenate(xs)[order], np.concatenate(ys)[order], np.arange(t.size) % 2)
    write_aedat31(folder / f"{name}.aedat", ev)
    with open(folder / f"{name}_labels.csv", "w", newline="") as f:
        f.write("class,startTime_usec,endTime_usec\r\n")
        for c, a, b in rows:
            f.write(f"{c},{a},{b}\r\n")


@pytest.fixture
def ibm_root(tmp_path):
    d = tmp_path / "DvsGesture"
    d.mkdir()
    train = {"user01_fluorescent": _rows(), "user01_led": _rows(skip=(5,)), "user02_lab": _rows(repeat=(8, 3))}
    test = {"user24_led": _rows(), "user25_natural": _rows(repeat=())}
    for name, rows in {**train, **test}.items():
        _write_trial(d, name, rows)
    (d / "trials_to_train.txt").write_text("".join(f"{n}.aedat\n" for n in train))
    (d / "trials_to_test.txt").write_text("".join(f"{n}.aedat\r\n" for n in test) + "\r\n")
    return tmp_path


def test_windows_protocol_keeps_every_labelled_window(ibm_root):
    ds = DVSGesture(ibm_root, split="train")
    assert ds.source == "aedat" and ds.sensor_size == (128, 128, 2) and ds.classes == CLASSES
    assert len(ds) == 12 + 11 + 13
    assert ds.targets.count(7) == 6  # arm roll twice in every train trial
    for i in range(len(ds)):
        ev, label = ds[i]
        s = ds.samples[i]
        assert len(ev) == 40 and set(ev["x"].tolist()) == {10 * (label + 1)}
        assert ev["t"].min() >= 0 and ev["t"].max() < s.end_us - s.start_us  # µs from window start
    assert ds.users[:12] == [1] * 12 and ds.lighting[0] == "fluorescent"
    test = DVSGesture(ibm_root, split="test")
    assert len(test) == 12 + 11 and sorted(set(test.users)) == [24, 25]


def test_per_class_protocol_is_one_sample_per_trial_and_class(ibm_root):
    ds = DVSGesture(ibm_root, split="train", protocol="per_class")
    assert len(ds) == 11 + 10 + 11
    pairs = [(s.trial, s.label) for s in ds.samples]
    assert len(set(pairs)) == len(pairs)
    # The first window of a repeated class is kept.
    i = pairs.index(("user01_fluorescent", 7))
    first = [r for r in _rows() if r[0] == 8][0]
    assert (ds.samples[i].start_us, ds.samples[i].end_us) == first[1:]


def test_ten_class_option_drops_other_gestures(ibm_root):
    ds = DVSGesture(ibm_root, split="test", num_classes=10)
    assert ds.classes == CLASSES[:10] and max(ds.targets) == 9 and len(ds) == 11 + 10


def test_published_counts_with_the_official_trial_lists(tmp_path, splits_dir):
    """The 98/24 official trial names; 12 windows each (arm roll twice), one train trial with 11 classes."""
    d = tmp_path / "DvsGesture"
    d.mkdir()
    for split in ("train", "test"):
        shutil.copy(splits_dir / "dvs128_gesture" / f"trials_to_{split}.txt", d)
    names = [ln.strip()[:-6] for s in ("train", "test") for ln in (d / f"trials_to_{s}.txt").read_text().splitlines() if ln.strip()]
    assert len(names) == 122
    for k, name in enumerate(names):
        # Fabricated labels: one train trial lacks class 5 and repeats class 3 instead (12 rows kept).
        rows = _rows(skip=(5,), repeat=(8, 3)) if k == 0 else _rows()
        _write_trial(d, name, rows, n=2)
    counts = {(s, p): len(DVSGesture(tmp_path, split=s, protocol=p)) for s in ("train", "test") for p in ("windows", "per_class")}
    assert counts == {("train", "windows"): 1176, ("test", "windows"): 288, ("train", "per_class"): 1077, ("test", "per_class"): 264}


def test_tonic_copy_is_read_in_ms(tmp_path):
    d = tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led"
    d.mkdir(parents=True)
    for label in (0, 3, 10):
        arr = np.array([[5, 6, 1, 1.5], [7, 8, 0, 2.0], [label, 9, 1, 3.25]])  # x, y, p, t (ms)
        np.save(d / f"{label}.npy", arr)
    ds = DVSGesture(tmp_path, split="test", protocol="per_class")
    assert ds.source == "tonic" and ds.targets == [0, 3, 10]
    ev, label = ds[1]
    assert label == 3 and ev["t"].tolist() == [1500, 2000, 3250] and ev["x"].tolist() == [5, 7, 3]
    assert DVSGesture(tmp_path, split="test", protocol="per_class", num_classes=10).targets == [0, 3]
    with pytest.raises(DatasetError, match="per_class"):
        DVSGesture(tmp_path, split="test")


def test_broken_layouts_name_what_was_expected(tmp_path, ibm_root):
    with pytest.raises(DatasetError, match=r"trials_to_train\.txt.*ibmGestureTrain.*DvsGesture\.tar\.gz"):
        DVSGesture(tmp_path / "empty")
    (ibm_root / "DvsGesture" / "user02_lab.aedat").unlink()
    with pytest.raises(DatasetError, match=r"1 of the 3 trials .* missing .*user02_lab\.aedat"):
        DVSGesture(ibm_root, split="train")
    (ibm_root / "DvsGesture" / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n3,100,50\n")
    with pytest.raises(DatasetError, match=r"user24_led_labels\.csv:2: window start 100"):
        DVSGesture(ibm_root, split="test")
    (ibm_root / "DvsGesture" / "user24_led_labels.csv").write_text("class,start,end\n")
    with pytest.raises(DatasetError, match=r"labels\.csv:1: header"):
        DVSGesture(ibm_root, split="test")
    (ibm_root / "DvsGesture" / "user24_led_labels.csv").unlink()
    with pytest.raises(DatasetError, match=r"user24_led_labels\.csv not found"):
        DVSGesture(ibm_root, split="test")
    with pytest.raises(DatasetError, match="split"):
        DVSGesture(ibm_root, split="val")
    with pytest.raises(DatasetError, match="num_classes"):
        DVSGesture(ibm_root, num_classes=9)


def test_download_only_when_asked_and_checksum_verified(tmp_path, monkeypatch):
    """download=True fetches tonic's archive (here from a file:// URL), checks md5, extracts safely."""
    import hashlib
    import io
    import tarfile

    import eventar.datasets.dvsgesture as mod

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = io.BytesIO()
        np.save(data, np.array([[1, 2, 1, 0.5], [3, 4, 0, 1.0]]))
        info = tarfile.TarInfo("ibmGestureTest/user24_led/4.npy")
        info.size = len(data.getvalue())
        tf.addfile(info, io.BytesIO(data.getvalue()))
    src = tmp_path / "mirror" / "ibmGestureTest.tar.gz"
    src.parent.mkdir()
    src.write_bytes(buf.getvalue())
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    monkeypatch.setitem(mod.TONIC_ARCHIVES, "test", (src.as_uri(), "ibmGestureTest.tar.gz", md5))
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="download=True"):
        DVSGesture(root, split="test", protocol="per_class")  # nothing fetched unless asked
    assert not root.exists()
    ds = DVSGesture(root, split="test", protocol="per_class", download=True)
    assert ds.source == "tonic" and ds.targets == [4] and ds[0][0]["t"].tolist() == [500, 1000]
    assert not list((root / "DVSGesture").glob(".*"))  # no staging leftovers
    monkeypatch.setitem(mod.TONIC_ARCHIVES, "train", (src.as_uri(), "ibmGestureTrain.tar.gz", "0" * 32))
    with pytest.raises(DatasetError, match="md5 .* expected 0000"):
        DVSGesture(root, split="train", protocol="per_class", download=True)
    assert not (root / "DVSGesture" / "ibmGestureTrain.tar.gz").exists()
