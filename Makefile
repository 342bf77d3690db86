# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, train SpikePoint on the built-in synthetic set, print
#               accuracy and the energy report
#   make test   create .venv, install with the test extras, run the test suite
#
# torch is installed first and pinned (the CPU wheel); SpikingJelly is installed last, with --no-deps,
# because its unpinned torchvision/torchaudio requirements would replace it with a CUDA build (and,
# installed last with --no-deps, pip skips its dependency check instead of printing an ERROR).
# Everything else comes from pyproject.toml, the one list of dependencies.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test install clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools>=68" wheel

$(STAMP): pyproject.toml tools/pyproject_deps.py | $(PY)
	$(PIP) install -q $(TORCH)
	$(PIP) install -q $$($(PY) tools/pyproject_deps.py --extra test --skip spikingjelly --skip torch) $(TORCH)
	$(PIP) install -q --no-deps $$($(PY) tools/pyproject_deps.py --only spikingjelly)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/eventar train --config experiments/spikepoint_synthetic.yaml

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
