"""CUDA kernels equal their references: under the numba simulator (always), on a GPU (marked gpu)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("cuda_sim_checks.py")
EXPECTED_OKS = 18


def _run(env_extra, scale, expected=EXPECTED_OKS):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, str(CHECKS), str(scale)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    oks = [line for line in out.stdout.splitlines() if line.startswith("ok ")]
    assert len(oks) == expected, out.stdout
    return out


def test_cuda_kernels_match_references_in_the_simulator():
    """Frames (ragged batch, both bin modes, overlap, include_last, one-polarity), voxel grids
    (signed and per polarity), both with 1, 3 and 4 events in flight per thread, point-cloud sampling (bitmap and with-replacement paths) and the
    out-of-sensor error, with an empty and a one-event stream in the batch."""
    env = {k: v for k, v in os.environ.items() if k != "EVENTAR_CUDA_REAL"}
    out = subprocess.run([sys.executable, str(CHECKS), "1"], capture_output=True, text=True,
                         env=dict(env, NUMBA_ENABLE_CUDASIM="1"), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len([ln for ln in out.stdout.splitlines() if ln.startswith("ok ")]) == EXPECTED_OKS, out.stdout


@pytest.mark.gpu
def test_cuda_kernels_match_references_on_the_gpu_with_torch_tensors():
    _run({"EVENTAR_CUDA_REAL": "1", "NUMBA_ENABLE_CUDASIM": "0"}, scale=2000, expected=EXPECTED_OKS + 3)
