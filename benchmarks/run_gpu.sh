#!/usr/bin/env bash
# Every check eventar runs on a CUDA machine, in one go: GPU parity tests and GPU benchmarks.
#
#   bash benchmarks/run_gpu.sh            # logs and tables under $OUT (default /tmp/eventar-gpu)
#
# Meant for a lent GPU machine with no network: Python wheels that its image lacks can be carried
# in .whl/*.whl (installed with --no-deps), and mamba-ssm / causal-conv1d source tarballs in
# .whl/src/ are built for the local GPU's architecture only, in the background, while the other
# checks run (a full multi-architecture build takes far longer).  STEPS selects parts
# (default "tests reps scan"; "build" is implied when the tarballs are present).  With "reps" and
# Nsight Compute on the PATH it also profiles the frame and voxel kernels once ($OUT/ncu_reps.txt).
set -u
OUT=${OUT:-/tmp/eventar-gpu}
mkdir -p "$OUT"
STEPS=${STEPS:-"tests reps scan"}
PY=${PY:-python3}
REPO=$(pwd)
export PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
log() { echo "== $(date +%T) $*"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, numpy, numba; print('torch', torch.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"
$PY -m pip show numba-cuda 2>/dev/null | grep -E '^(Name|Version)'

if ls .whl/*.whl >/dev/null 2>&1; then
  log "installing carried wheels"
  $PY -m pip install -q --no-index --no-deps --no-compile .whl/*.whl 2>&1 | tail -3
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -3

build_pid=""
if ls .whl/src/*.tar.gz >/dev/null 2>&1; then
  cap=$($PY -c "import torch; a, b = torch.cuda.get_device_capability(); print(f'{a}{b}')")
  log "building mamba-ssm / causal-conv1d for sm_$cap in the background"
  (
    set -e
    mkdir -p /tmp/mbuild && cd /tmp/mbuild
    for tgz in "$REPO"/.whl/src/*.tar.gz; do tar xzf "$tgz"; done
    for d in */; do
      # keep only this GPU's architecture in the hard-coded -gencode list
      $PY - "$d/setup.py" "$cap" <<'PYEOF'
import sys
path, cap = sys.argv[1], sys.argv[2]
src = open(path).read()
mark = "    # HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI"
assert mark in src, "setup.py layout changed"
keep = (f'    cc_flag = [f for f in cc_flag if f != "-gencode" and not f.startswith("arch=")]'
        f' + ["-gencode", "arch=compute_{cap},code=sm_{cap}"]\n')
open(path, "w").write(src.replace(mark, keep + mark, 1))
PYEOF
    done
    export MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE MAX_JOBS=${MAX_JOBS:-10}
    (cd causal_conv1d-* && $PY -m pip install -q --no-index --no-deps --no-build-isolation . > "$OUT/build_causal_conv1d.log" 2>&1) &
    (cd mamba_ssm-* && $PY -m pip install -q --no-index --no-deps --no-build-isolation . > "$OUT/build_mamba_ssm.log" 2>&1) &
    wait
  ) &
  build_pid=$!
  build_t0=$(date +%s)
fi

if [[ " $STEPS " == *" tests "* ]]; then
  log "pytest -m gpu"
  $PY -m pytest -m gpu -q -rs -p no:cacheprovider --continue-on-collection-errors --timeout 900 -s tests 2>&1 | tee "$OUT/pytest_gpu.log" | tail -40
fi
if [[ " $STEPS " == *" reps "* ]]; then
  log "representations on the GPU"
  $PY benchmarks/bench_representations_gpu.py --repeats 20 --variants 2>&1 | tee "$OUT/bench_reps_gpu.log" | tail -30
fi
if [[ " $STEPS " == *" reps "* ]] && command -v ncu >/dev/null 2>&1; then
  log "ncu: the frame and voxel kernels (throughput, stalls, occupancy)"
  ncu --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
      --section LaunchStats -k regex:'count|accumulate' -c 2 \
      $PY benchmarks/bench_representations_gpu.py --once > "$OUT/ncu_reps.txt" 2>&1
  grep -E "Duration|DRAM Throughput|Memory Throughput|Compute \(SM\)|Achieved Occupancy|Registers Per" "$OUT/ncu_reps.txt" | head -20
fi
if [[ -n "$build_pid" ]]; then
  log "waiting for the mamba-ssm build (at most ${BUILD_MAX:=420} s after its start)"
  while kill -0 "$build_pid" 2>/dev/null && (( $(date +%s) - build_t0 < BUILD_MAX )); do sleep 5; done
  if kill -0 "$build_pid" 2>/dev/null; then
    log "build still running after $BUILD_MAX s: skipping the mamba-ssm checks"
  else
    wait "$build_pid"; rc=$?
    log "build finished rc=$rc after $(( $(date +%s) - build_t0 )) s"
    tail -5 "$OUT"/build_*.log
    $PY -c "import mamba_ssm, causal_conv1d; from mamba_ssm.ops.selective_scan_interface import selective_scan_fn; print('mamba-ssm', mamba_ssm.__version__, 'causal-conv1d', causal_conv1d.__version__)"
    if [[ " $STEPS " == *" tests "* ]]; then
      log "pytest: mamba-ssm GPU tests"
      $PY -m pytest -m gpu -q -rs -p no:cacheprovider -s tests/nn/test_nn_scan.py tests/nn/test_nn_mamba.py tests/models 2>&1 | tee "$OUT/pytest_mamba.log" | tail -30
    fi
  fi
fi
if [[ " $STEPS " == *" scan "* ]]; then
  log "selective scan on the GPU"
  $PY benchmarks/bench_scan_gpu.py 2>&1 | tee "$OUT/bench_scan_gpu.log" | tail -12
fi
log "done"
