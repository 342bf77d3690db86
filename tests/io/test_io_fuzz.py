"""Fuzzing the readers with truncated, bit-flipped and header-corrupted files.

Property: reading a damaged file either succeeds or raises an :class:`eventar.EventarError`
(never a numpy / struct / zipfile traceback), finishes (pytest-timeout bounds the test), and
never allocates memory sized by a corrupt length field (tracemalloc peak stays proportional to
the file size).  Seeds: the real recordings when ../shared/data/real is present, plus files
eventar writes itself (AEDAT 2.0, AEDAT 3.1 with every packet feature, N-MNIST, npy, npz), so
the fuzz runs without the shared data too.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventar.errors import EventarError
from eventar.events import make_events
from eventar.io import read_events
from eventar.io.aedat_write import write_aedat2_dvs128, write_aedat31

from conftest import REAL_DIR
from fuzz_helpers import damage, exercise

REAL_SEEDS = [
    "AlexOuyang__DVS128DataAnalysis/alex_walking_again.aedat",
    "neuromorphs__tonic/sample_aedat_header.aedat",
    "redpob__dvs128-testing/dvSave-2024_06_13_16_16_25.aedat4",
    "neuromorphs__tonic/sample_nmnist.bin",
]
# header sizes to aim "header corruption" at (bytes); binary formats get their first 64 bytes
_HEADER_SPAN = {".aedat": 4612, ".aedat4": 1700, ".npy": 128, ".npz": 256, ".bin": 64}
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _synthetic(folder: Path) -> list:
    rng = np.random.default_rng(7)
    n = 3000
    ev = make_events(np.sort(rng.integers((1 << 31) - 10**6, (1 << 31) + 10**6, n)), rng.integers(0, 128, n),
                     rng.integers(0, 128, n), rng.integers(0, 2, n))
    out = [
        write_aedat31(folder / "synthetic31.aedat", ev, 128, 128, max_packet_events=200, extra_packets=True,
                      invalid_mask=rng.random(n) < 0.1, capacity_slack=3, force=True),
        write_aedat2_dvs128(folder / "synthetic2.aedat", ev, special_mask=rng.random(n) < 0.05, force=True),
    ]
    np.save(folder / "synthetic.npy", ev)
    np.savez_compressed(folder / "synthetic.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"])
    out += [folder / "synthetic.npy", folder / "synthetic.npz"]
    return out


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("fuzz_seeds")
    files = _synthetic(folder)
    if (REAL_DIR / "EXPECTED.json").is_file():
        files += [REAL_DIR / rel for rel in REAL_SEEDS if (REAL_DIR / rel).is_file()]
    return [(p.suffix, p.read_bytes()) for p in files]


@FUZZ
@given(data=st.data())
def test_truncated(seeds, tmp_path: Path, data):
    suffix, raw = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed index")]
    p = tmp_path / f"trunc{suffix}"
    p.write_bytes(damage(data, raw, "truncate"))
    exercise(p, len(raw))


@FUZZ
@given(data=st.data())
def test_bit_flipped(seeds, tmp_path: Path, data):
    suffix, raw = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed index")]
    p = tmp_path / f"flip{suffix}"
    p.write_bytes(damage(data, raw, "flip"))
    exercise(p, len(raw))


@FUZZ
@given(data=st.data())
def test_header_corrupted(seeds, tmp_path: Path, data):
    suffix, raw = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed index")]
    p = tmp_path / f"head{suffix}"
    p.write_bytes(damage(data, raw, "header", _HEADER_SPAN.get(suffix, 64)))
    exercise(p, len(raw))


def test_length_fields_never_size_allocations(tmp_path: Path):
    """Length fields set to 2^31-1 (AEDAT 3.1 eventNumber, AEDAT 4 packet size, npy shape) fail fast."""
    ev = make_events([1, 2, 3], [1, 2, 3], [1, 2, 3], [0, 1, 0])
    p = write_aedat31(tmp_path / "n.aedat", ev)
    raw = bytearray(p.read_bytes())
    body = raw.index(b"#!END-HEADER\r\n") + 14
    raw[body + 20: body + 24] = (2**31 - 1).to_bytes(4, "little")  # eventNumber
    p.write_bytes(bytes(raw))
    with pytest.raises(EventarError, match="truncated packet"):
        _raise(read_events, p)
    np.save(tmp_path / "s.npy", ev)
    raw = (tmp_path / "s.npy").read_bytes().replace(b"(3,)", b"(9,)", 1)
    (tmp_path / "s.npy").write_bytes(raw)
    with pytest.raises(EventarError):
        _raise(read_events, tmp_path / "s.npy")


def _raise(fn, path):
    tracemalloc.start()
    try:
        return fn(path)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 32 << 20
