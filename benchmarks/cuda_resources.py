"""Registers, spills and local memory of eventar's tiled CUDA kernels, compiled without a GPU.

    CUDA_HOME=/usr/local/cuda python benchmarks/cuda_resources.py [--arch 90] [--unroll 1 2 4 8]

Needs the CUDA toolkit's libNVVM and ``ptxas`` (no device, no driver): numba compiles each kernel to
PTX for the given architecture, ``ptxas -v`` assembles it under the launch limit the kernels are
built with (``_tiles.MAX_REGISTERS``), and the report says whether a 1024-thread block fits.  With
``nvdisasm`` (on the PATH or in ``$CUDA_HOME/bin``) it also counts, in the machine code, the global loads issued before the
first shared-memory atomic (what ``_tiles.UNROLL`` is for).  A check for sessions without a GPU:
the speed itself is measured by ``bench_representations_gpu.py`` on a device.

numba 0.68's own CUDA target asks the driver for the current device's compute capability when it
compiles a device function, and its ``min(*args)`` overload fails in kernels there; this script
answers the first with ``--arch`` and gives the kernel modules a two-argument ``min`` (numba-cuda,
used on GPUs, needs neither).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def cuda_tool(name: str):
    """Path of the CUDA toolkit program ``name`` (``ptxas``, ``nvdisasm``): the PATH first, then
    ``$CUDA_HOME/bin``; None when neither has it."""
    import os

    home = os.environ.get("CUDA_HOME")
    return shutil.which(name) or (shutil.which(name, path=str(Path(home, "bin"))) if home else None)


def _offline_cuda(arch):
    """numba.cuda set up to compile for compute capability ``arch`` without a driver."""
    if "row_stack" not in vars(np):
        np.row_stack = np.vstack
    from numba import cuda
    import numba.cuda.dispatcher as dispatcher

    class _Device:
        compute_capability = arch

    dispatcher.get_current_device = lambda: _Device()
    from eventar.kernels import _jit

    _jit.cuda_module = lambda: cuda
    return cuda


def _min2(a, b):
    return a if a < b else b


def kernels(cuda, unroll):
    """name -> (python function, argument types) of the tiled kernels at ``unroll``."""
    from numba import types as nt

    from eventar.kernels import frames_cuda, voxel_cuda

    frames_cuda.min = voxel_cuda.min = cuda.jit(device=True)(_min2)
    i16, u8, i64, i32, f64 = nt.int16[::1], nt.uint8[::1], nt.int64[::1], nt.int32[::1], nt.float64[::1]
    n, b = nt.int64, nt.boolean
    return {
        "frames count": (frames_cuda._count_kernel(unroll).py_func,
                         (i16, i16, u8, i64, i64, i32, n, n, n, n, n, b, i64)),
        "voxel accumulate": (voxel_cuda._accumulate_kernel(unroll).py_func,
                             (i64, i16, i16, u8, i64, i64, f64, n, n, n, n, n, n, b, i64)),
    }


def loads_before_first_atomic(cubin: Path) -> str:
    """Global loads (LDG) between the block's barrier and its first shared atomic, per nvdisasm."""
    tool = cuda_tool("nvdisasm")
    if tool is None:
        return "–"
    sass = subprocess.run([tool, "-c", str(cubin)], capture_output=True, text=True).stdout.splitlines()
    start = next((i for i, line in enumerate(sass) if "BAR.SYNC" in line), 0)
    count = 0
    for line in sass[start:]:
        if "ATOMS" in line:
            return str(count)
        count += "LDG" in line
    return "no atomic"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="compute capability as digits, e.g. 90 for sm_90")
    ap.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--write", action="store_true", help="replace the RESULTS.md section")
    args = ap.parse_args(argv)
    ptxas = cuda_tool("ptxas")
    if ptxas is None:
        raise SystemExit("needs the CUDA toolkit's ptxas on the PATH or in $CUDA_HOME/bin (and libNVVM: set CUDA_HOME)")
    arch = (args.arch // 10, args.arch % 10)
    cuda = _offline_cuda(arch)
    from eventar.kernels import _tiles

    rows = ["| kernel | events in flight | registers | spill stores / loads (bytes) | local memory in PTX "
            "| 1024-thread block | loads before the first atomic |", "|---|---:|---:|---:|---:|---|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for unroll in args.unroll:
            for name, (fn, sig) in kernels(cuda, unroll).items():
                ptx, _ = cuda.compile_ptx(fn, sig, cc=arch)
                src = Path(tmp, "k.ptx")
                src.write_text(ptx)
                cubin = Path(tmp, "k.cubin")
                out = subprocess.run([ptxas, "-v", f"-arch=sm_{args.arch}", f"-maxrregcount={_tiles.MAX_REGISTERS}",
                                      str(src), "-o", str(cubin)], capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stderr)
                regs = int(re.search(r"Used (\d+) registers", out.stderr).group(1))
                spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", out.stderr).groups()
                local = ptx.count("ld.local") + ptx.count("st.local")
                fits = "fits" if regs * 1024 <= 65536 else "does not fit"
                rows.append(f"| {name} | {unroll} | {regs} | {spill[0]} / {spill[1]} | {local} | {fits} "
                            f"| {loads_before_first_atomic(cubin)} |")
                print(rows[-1], flush=True)
    import numba

    version = subprocess.run([ptxas, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    body = "\n".join([
        f"Compiled without a GPU: numba {numba.__version__} to PTX for sm_{args.arch}, then `ptxas -v "
        f"-maxrregcount={_tiles.MAX_REGISTERS}` (the limit the kernels are built with; {version}). "
        f"Command: `CUDA_HOME=/usr/local/cuda python benchmarks/cuda_resources.py --arch {args.arch}`. "
        "\"Loads before the first atomic\" counts global loads in the machine code between the tile's "
        "barrier and its first shared-memory atomic (nvdisasm), the slice bounds included: the events "
        "whose loads are in flight together. Speed is measured on a device (section \"Representations (GPU)\").",
        "",
        *rows,
    ])
    print(body)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _common import update_results_section

        update_results_section("CUDA kernel resources (compiled offline)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
