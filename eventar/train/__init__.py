"""Training and evaluation engine (single process or torch DDP under torchrun).

>>> from eventar.train import train, evaluate_run
>>> result = train("experiments/spikepoint_synthetic.yaml", ["train.epochs=3"])
>>> evaluate_run(result["run_dir"], split="test")

Modules: :mod:`~eventar.train.config` (YAML + dotted overrides), :mod:`~eventar.train.data`
(datasets -> prepared samples -> batches), :mod:`~eventar.train.inputs` (per-model input
pipelines, ``register_input``), :mod:`~eventar.train.engine` (the loop),
:mod:`~eventar.train.checkpoint`, :mod:`~eventar.train.distributed`, :mod:`~eventar.train.metrics`.
"""

from .config import DEFAULTS, load_config, resolve
from .data import list_datasets, register_dataset
from .engine import evaluate_run, train
from .inputs import InputSpec, build_input, list_inputs, register_input

__all__ = [
    "DEFAULTS",
    "load_config",
    "resolve",
    "train",
    "evaluate_run",
    "register_dataset",
    "list_datasets",
    "register_input",
    "build_input",
    "list_inputs",
    "InputSpec",
]
