"""``eventar convert``: trees mirrored, outputs exact, nothing partial after errors or kills, inputs untouched.

Stale temporary files: a SIGKILLed conversion cannot remove its hidden ``.<name>.*.partial.h5``;
it never becomes the final name, and the next conversion of that output deletes it first.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eventar.cli import main
from eventar.cli.convert import plan_jobs, read_labels_csv
from eventar.errors import FormatError
from eventar.events import make_events
from eventar.io import read_events

sys.path.insert(0, str(Path(__file__).parent))
from prophesee_encoders import dat_bytes, evt3_words, raw_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _events(n, w=64, h=48, seed=0, t0=0):
    rng = np.random.default_rng(seed)
    return make_events(t0 + np.sort(rng.integers(0, 2_000_000, n)), rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def _dat(path, ev, w=64, h=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dat_bytes(ev, ["% Data file containing CD events.", "% Version 2", f"% Width {w}", f"% Height {h}"], ev_type=0x0C))
    return path


def _tree(root):
    """root/a/one.dat, root/a/b/two.raw (EVT3), root/notes.txt; returns {relative stem: events}."""
    e1, e2 = _events(3000, seed=1), _events(2000, seed=2)
    _dat(root / "a" / "one.dat", e1)
    (root / "a" / "b").mkdir(parents=True, exist_ok=True)
    (root / "a" / "b" / "two.raw").write_bytes(raw_bytes(evt3_words(e2), ["% evt 3.0", "% geometry 64x48", "% end"]))
    (root / "notes.txt").write_text("not events\n")
    return {"a/one": e1, "a/b/two": e2}


def _hashes(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_tree_is_mirrored_exactly_and_inputs_untouched(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "out"
    evs = _tree(src)
    before = _hashes(src)
    assert main(["convert", str(src), "-o", str(dst)]) == 0
    assert _hashes(src) == before
    assert _files(dst) == ["a/b/two.h5", "a/one.h5"]
    for stem, ev in evs.items():
        rec = read_events(dst / f"{stem}.h5")
        assert np.array_equal(rec.events, ev) and rec.sensor_size == (64, 48, 2)
        assert rec.meta["source_file"] == str(src / (stem + (".dat" if "one" in stem else ".raw")))
    out = capsys.readouterr().out
    assert "converted 2/2 files" in out and "1 non-event files skipped" in out


def test_single_file_to_named_output(tmp_path):
    ev = _events(500)
    src = _dat(tmp_path / "x.dat", ev)
    assert main(["convert", str(src), "-o", str(tmp_path / "named.h5"), "--compression", "lzf"]) == 0
    assert np.array_equal(read_events(tmp_path / "named.h5").events, ev)


def test_existing_outputs_need_force(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "out"
    _tree(src)
    assert main(["convert", str(src), "-o", str(dst)]) == 0
    old = _hashes(dst)
    mtimes = {p: p.stat().st_mtime_ns for p in old}
    capsys.readouterr()
    assert main(["convert", str(src), "-o", str(dst)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("--force" in line for line in err)
    assert {p: p.stat().st_mtime_ns for p in old} == mtimes
    assert main(["convert", str(src), "-o", str(dst), "--force"]) == 0
    assert _hashes(dst) == old  # same content, rewritten


def test_corrupt_input_in_batch(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "out"
    _tree(src)
    good = _dat(tmp_path / "tmpgood.dat", _events(100)).read_bytes()
    bad = src / "a" / "broken.dat"
    bad.write_bytes(good[:-5])  # a truncated last record
    before = _hashes(src)
    assert main(["convert", str(src), "-o", str(dst), "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(bad) in err[0] and f"byte {len(good) - 8}" in err[0] and "truncated" in err[0]
    assert _files(dst) == ["a/b/two.h5", "a/one.h5"]  # the others were converted, no partial left
    assert _hashes(src) == before


def test_labels_split_trials(tmp_path):
    ev = _events(4000, w=128, h=128, t0=80_000_000)
    trial = _dat(tmp_path / "g" / "user01_fluorescent.dat", ev, 128, 128)
    rows = [(1, 80_100_000, 80_600_000), (8, 80_500_000, 81_000_000), (8, 81_200_000, 81_900_000)]
    (trial.parent / "user01_fluorescent_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{s},{e}\n" for c, s, e in rows))
    dst = tmp_path / "out"
    assert main(["convert", str(tmp_path / "g"), "-o", str(dst), "--labels"]) == 0
    assert _files(dst) == ["user01_fluorescent_0_1.h5", "user01_fluorescent_1_8.h5", "user01_fluorescent_2_8.h5"]
    for i, (c, s, e) in enumerate(rows):
        rec = read_events(dst / f"user01_fluorescent_{i}_{c}.h5")
        want = ev[(ev["t"] >= s) & (ev["t"] < e)]
        assert len(want) > 0 and np.array_equal(rec.events, want)
        assert rec.meta["label"] == c and rec.meta["label_window_us"] == [s, e]


def test_labels_split_aedat31_trial(tmp_path):
    aedat_write = pytest.importorskip("eventar.io.aedat_write")
    ev = _events(3000, w=128, h=128, t0=5_000_000)
    trial = tmp_path / "user02_led.aedat"
    aedat_write.write_aedat31(trial, ev, 128, 128)
    try:
        read_events(trial)
    except Exception as e:  # pragma: no cover - the AEDAT 3.1 reader belongs to another module
        pytest.skip(f"AEDAT 3.1 reader not available: {e}")
    (tmp_path / "user02_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n3,5100000,5900000\n")
    assert main(["convert", str(trial), "-o", str(tmp_path / "out"), "--labels"]) == 0
    rec = read_events(tmp_path / "out" / "user02_led_0_3.h5")
    assert np.array_equal(rec.events, ev[(ev["t"] >= 5_100_000) & (ev["t"] < 5_900_000)])


def test_labels_csv_errors_name_line_and_offset(tmp_path):
    p = tmp_path / "x_labels.csv"
    p.write_text("class,startTime_usec,endTime_usec\n1,10,20\n2,abc,30\n")
    with pytest.raises(FormatError) as e:
        read_labels_csv(p)
    assert "line 3" in str(e.value) and e.value.offset == len("class,startTime_usec,endTime_usec\n1,10,20\n")
    p.write_text("klass,a,b\n")
    with pytest.raises(FormatError, match="header"):
        read_labels_csv(p)


def test_plan_refuses_colliding_outputs(tmp_path):
    _dat(tmp_path / "s" / "a.dat", _events(10))
    (tmp_path / "s" / "a.raw").write_bytes(raw_bytes(evt3_words(_events(10)), ["% evt 3.0", "% geometry 64x48", "% end"]))
    with pytest.raises(Exception, match="both write"):
        plan_jobs([tmp_path / "s"], tmp_path / "o")


# ------------------------------------------------------------------------------ interruption
@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    """A 2 M-event DAT (16 MB) whose conversion takes a good fraction of a second."""
    n = 2_000_000
    rng = np.random.default_rng(0)
    rec = np.empty((n, 2), "<u4")
    rec[:, 0] = np.sort(rng.integers(0, 60_000_000, n))
    rec[:, 1] = rng.integers(0, 640, n) | (rng.integers(0, 480, n) << 14) | (rng.integers(0, 2, n) << 28)
    path = tmp_path_factory.mktemp("big") / "big.dat"
    path.write_bytes(b"% Version 2\n% Width 640\n% Height 480\n" + bytes([0x0C, 8]) + rec.tobytes())
    return path


def _start(src, dst):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "eventar", "convert", str(src), "-o", str(dst)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _wait_for_partial(proc, folder, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if folder.is_dir() and any(".partial" in p.name for p in folder.iterdir()):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_kill_mid_write_leaves_no_output(tmp_path, big_input, sig):
    dst = tmp_path / "out"
    before = _hashes(big_input.parent)
    proc = _start(big_input, dst)
    assert _wait_for_partial(proc, dst), proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert not (dst / "big.h5").exists()
    leftovers = [p.name for p in dst.iterdir()]
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and b"interrupted" in err
        assert leftovers == []  # Ctrl-C: the temporary file is removed
    else:
        assert proc.returncode == -signal.SIGKILL
        assert all(name.startswith(".big.h5.") and ".partial" in name for name in leftovers)
        # a re-run cleans the stale temporary file and writes the output
        assert main(["convert", str(big_input), "-o", str(dst)]) == 0
        assert [p.name for p in dst.iterdir()] == ["big.h5"]
        assert len(read_events(dst / "big.h5")) == 2_000_000
    assert _hashes(big_input.parent) == before
