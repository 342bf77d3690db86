"""Checkpoints: weights as ``<tag>.safetensors``, training state as ``<tag>_state.pt``.

The weights file is plain safetensors (loadable without eventar or pickle).  The state file holds
only tensors and Python primitives (optimizer, scheduler, grad-scaler, RNG states, epoch, step,
best metric), so it loads with ``torch.load(..., weights_only=True)``.  Both are written to a
temporary file and renamed, so an interrupted save leaves the previous checkpoint intact.

>>> save_weights(model, run_dir / "best.safetensors")
>>> load_weights(model, run_dir / "best.safetensors")
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..io.atomic import atomic_output


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` (or ``torch.compile``) wrapper."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_weights(model: nn.Module, path: "os.PathLike[str] | str", metadata: Dict[str, str] | None = None) -> None:
    """Write ``model``'s state dict (parameters and buffers, DDP prefix removed) as safetensors."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in unwrap(model).state_dict().items()}
    with atomic_output(path, force=True, suffix=".safetensors") as tmp:
        save_file(state, os.fspath(tmp), metadata=metadata or {})


def read_weights(path: "os.PathLike[str] | str") -> Dict[str, torch.Tensor]:
    """Read a ``.safetensors`` state dict onto the CPU.

    Raises:
        CheckpointError: missing, truncated or not a safetensors file.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return load_file(os.fspath(path), device="cpu")
    except Exception as e:  # safetensors raises its own SafetensorError / OSError on bad bytes
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def load_weights(model: nn.Module, path: "os.PathLike[str] | str") -> None:
    """Load a ``.safetensors`` state dict into ``model`` (strict: every key, every shape).

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not match the model.
    """
    state = read_weights(path)
    target = unwrap(model)
    own = target.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}")
        if bad_shape:
            parts.append(
                "shape mismatch "
                + ", ".join(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in bad_shape[:5])
            )
        raise CheckpointError(f"{path}: does not match the model: " + "; ".join(parts))
    target.load_state_dict(state, strict=True)


def rng_state() -> Dict[str, Any]:
    """The process's torch / CUDA / numpy / Python RNG states as tensors and primitives."""
    np_state = np.random.get_state()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_gauss"][0], state["numpy_gauss"][1]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_to_lists(v) for v in x]
    return x


def save_state(state: Dict[str, Any], path: "os.PathLike[str] | str") -> None:
    """``torch.save`` a training-state dict atomically; it must hold only tensors and primitives.

    Raises:
        CheckpointError: the dict holds something ``weights_only`` loading would refuse.
    """
    with atomic_output(path, force=True, suffix=".pt") as tmp:
        torch.save(state, tmp)
        try:  # refuse to leave a state file that cannot be loaded safely
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{path}: training state is not weights_only-loadable ({e})") from None


def load_state(path: "os.PathLike[str] | str") -> Dict[str, Any]:
    """Load a training-state file with ``weights_only=True`` onto the CPU.

    Raises:
        CheckpointError: missing, truncated, not a torch file, or missing the expected keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable training-state file ({type(e).__name__}: {e})") from None
    required = ("epoch", "step_in_epoch", "global_step", "optimizer", "scheduler")
    if not isinstance(state, dict) or any(k not in state for k in required):
        have = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: training state lacks {list(required)} (has {have})")
    return state
