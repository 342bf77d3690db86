"""The dispatcher: EVENTAR_KERNELS / backend= force an implementation, inputs pick one otherwise."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from eventar.errors import ConfigError
from eventar.kernels import KernelUnavailableError, choose, to_frame
from eventar.transforms import ToFrame, frames_batch, voxel_batch


def test_env_variable_and_argument_force_a_backend(monkeypatch):
    monkeypatch.delenv("EVENTAR_KERNELS", raising=False)
    assert choose(np.zeros(3)) == "numba"
    assert choose(torch.zeros(3)) == "numba"  # CPU tensors stay on the CPU path
    monkeypatch.setenv("EVENTAR_KERNELS", "ref")
    assert choose(np.zeros(3)) == "ref"
    assert choose(np.zeros(3), backend="numba") == "numba"  # the argument wins
    monkeypatch.setenv("EVENTAR_KERNELS", "fast")
    with pytest.raises(ConfigError, match="EVENTAR_KERNELS"):
        choose(np.zeros(3))


def test_forcing_cuda_without_a_device_is_an_error_not_a_silent_fallback():
    code = (
        "import os, numpy as np\n"
        "os.environ.pop('NUMBA_ENABLE_CUDASIM', None)\n"
        "from eventar.kernels import choose, KernelUnavailableError\n"
        "from numba import cuda\n"
        "if cuda.is_available():\n"
        "    print('has-gpu')\n"
        "else:\n"
        "    try:\n"
        "        choose(np.zeros(2), backend='cuda')\n"
        "    except KernelUnavailableError as e:\n"
        "        print('raised', isinstance(e, ValueError))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() in ("raised True", "has-gpu"), out.stderr
    assert issubclass(KernelUnavailableError, ValueError)


def test_every_backend_gives_the_same_frames_through_the_transform(monkeypatch):
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 10_000, 500))
    ev = np.zeros(500, [("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    ev["t"], ev["x"], ev["y"], ev["p"] = t, rng.integers(0, 8, 500), rng.integers(0, 6, 500), rng.integers(0, 2, 500)
    results = {}
    for backend in ("ref", "numba"):
        monkeypatch.setenv("EVENTAR_KERNELS", backend)
        results[backend] = ToFrame((8, 6, 2), n_time_bins=5)(ev)
    np.testing.assert_array_equal(results["ref"], results["numba"])


def test_batched_functions_accept_torch_cpu_tensors_and_return_tensors():
    rng = np.random.default_rng(1)
    lengths = [300, 0, 120]
    t = np.concatenate([np.sort(rng.integers(0, 5000, n)) for n in lengths]).astype(np.int64)
    n = len(t)
    cols = {"t": t, "x": rng.integers(0, 8, n).astype(np.int16), "y": rng.integers(0, 6, n).astype(np.int16),
            "p": rng.integers(0, 2, n).astype(np.uint8)}
    offsets = np.array([0, 300, 300, 420])
    tens = {k: torch.from_numpy(v) for k, v in cols.items()}
    fr = frames_batch(tens, offsets, (8, 6, 2), n_time_bins=4)
    assert isinstance(fr, torch.Tensor) and tuple(fr.shape) == (3, 4, 2, 6, 8)
    for b, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        sl = slice(lo, hi)
        if hi > lo:
            want = to_frame(t[sl], cols["x"][sl], cols["y"][sl], cols["p"][sl], (8, 6, 2), n_time_bins=4)
        else:
            want = np.zeros((4, 2, 6, 8))
        np.testing.assert_array_equal(fr[b].numpy(), want)
    vx = voxel_batch(cols, offsets, (8, 6, 2), 3, per_polarity=True)
    assert isinstance(vx, np.ndarray) and vx.shape == (3, 3, 2, 6, 8) and not vx[1].any()



def test_importing_kernels_and_transforms_stays_light():
    code = (
        "import sys, eventar.transforms, eventar.kernels\n"
        "import numpy as np\n"
        "ev = np.zeros(3, [('t','<i8'),('x','<u2'),('y','<u2'),('p','u1')])\n"
        "eventar.transforms.ToFrame((4, 4, 2), n_time_bins=2)(ev)\n"
        "print(','.join(m for m in ('torch', 'numba.cuda', 'matplotlib', 'tonic') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the CPU path imported {out.stdout.strip()}"
