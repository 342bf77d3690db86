"""Multi-step spiking neuron modules: :class:`LIF`, :class:`ParametricLIF`, :class:`IF`.

Each module maps ``x: (T, ...)`` real input (time axis first) to ``(T, ...)`` spikes in {0, 1}.
The maths lives in :mod:`eventar.nn.neurons`; the modules only hold parameters.  They keep no
membrane state between calls (every forward starts from ``V = V_reset``), so there is nothing to
reset: no ``reset_net`` after a batch.

>>> import torch
>>> from eventar.nn import LIF
>>> lif = LIF(tau=2.0)
>>> lif(torch.full((3, 1), 1.5)).flatten().tolist()    # H = 0.75, 1.125 -> spike, 0.75
[0.0, 1.0, 0.0]
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .neurons import (check_neuron_args, check_tau, if_multistep, init_w, lif_multistep,
                      plif_multistep)


class _MultiStepNeuron(nn.Module):
    """Parameters shared by every neuron; see :func:`eventar.nn.neurons.lif_multistep`."""

    def __init__(self, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0, surrogate: str = "atan",
                 alpha: float = 2.0, detach_reset: bool = False, backend: str = "auto"):
        super().__init__()
        check_neuron_args(v_threshold, v_reset, surrogate, alpha, backend)
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = surrogate
        self.alpha = float(alpha)
        self.detach_reset = bool(detach_reset)
        self.backend = backend

    def _common(self) -> dict:
        return dict(v_threshold=self.v_threshold, v_reset=self.v_reset, surrogate=self.surrogate,
                    alpha=self.alpha, detach_reset=self.detach_reset, backend=self.backend)

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"v_reset={self.v_reset}"
        return (f"v_threshold={self.v_threshold}, {reset}, surrogate={self.surrogate}(alpha={self.alpha}), "
                f"detach_reset={self.detach_reset}")


class LIF(_MultiStepNeuron):
    """Leaky integrate-and-fire, multi-step.

    Args:
        tau: membrane time constant τ > 1 (time steps).
        v_threshold: firing threshold.
        v_reset: hard-reset potential, or None for soft reset.
        surrogate: 'atan' | 'sigmoid' | 'piecewise_quadratic'; alpha: its sharpness.
        detach_reset: no gradient through the reset.
        decay_input: scale the input by 1/τ too (SpikingJelly's default True).
        backend: 'auto' (numba on CPU, SpikingJelly kernels on CUDA) | 'numba' | 'spikingjelly' | 'torch'.

    Shape:
        input ``(T, ...)`` float; output ``(T, ...)`` spikes in {0, 1}, same dtype.
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 surrogate: str = "atan", alpha: float = 2.0, detach_reset: bool = False,
                 decay_input: bool = True, backend: str = "auto"):
        super().__init__(v_threshold, v_reset, surrogate, alpha, detach_reset, backend)
        check_tau(tau)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, ...) input current -> (T, ...) spikes in {0, 1}."""
        return lif_multistep(x, tau=self.tau, decay_input=self.decay_input, **self._common())

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, " + super().extra_repr()


class ParametricLIF(_MultiStepNeuron):
    """LIF with a learnable time constant (Fang et al. 2021): one scalar ``w`` per layer,
    decay ``1/τ = sigmoid(w)``, initialised so that τ = ``init_tau``.

    Args:
        init_tau: initial τ > 1.
        other arguments: as :class:`LIF`.

    Shape:
        input ``(T, ...)`` float; output ``(T, ...)`` spikes in {0, 1}, same dtype.
    """

    def __init__(self, init_tau: float = 2.0, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 surrogate: str = "atan", alpha: float = 2.0, detach_reset: bool = False,
                 decay_input: bool = True, backend: str = "auto"):
        super().__init__(v_threshold, v_reset, surrogate, alpha, detach_reset, backend)
        self.decay_input = bool(decay_input)
        self.w = nn.Parameter(torch.tensor(init_w(init_tau), dtype=torch.float32))

    @property
    def tau(self) -> float:
        """Current time constant τ = 1 / sigmoid(w)."""
        return float(1.0 / torch.sigmoid(self.w.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, ...) input current -> (T, ...) spikes in {0, 1}."""
        return plif_multistep(x, self.w, decay_input=self.decay_input, **self._common())

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4g}, decay_input={self.decay_input}, " + super().extra_repr()


class IF(_MultiStepNeuron):
    """Integrate-and-fire (no leak), multi-step; arguments as :class:`LIF` without τ.

    Shape:
        input ``(T, ...)`` float; output ``(T, ...)`` spikes in {0, 1}, same dtype.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, ...) input current -> (T, ...) spikes in {0, 1}."""
        return if_multistep(x, **self._common())


NEURONS = {"lif": LIF, "plif": ParametricLIF, "if": IF}


def reset_states(model: nn.Module) -> nn.Module:
    """Reset the membrane state of every stateful SpikingJelly module inside ``model``.

    eventar's own neurons are stateless, so models built only from them never need this; it exists
    for models that embed raw SpikingJelly nodes (``spikingjelly.activation_based.base.MemoryModule``)
    and call it at the start of their ``forward``.  Returns ``model``.
    """
    try:
        from spikingjelly.activation_based.base import MemoryModule
    except ImportError:  # pragma: no cover - spikingjelly is a dependency
        return model
    for m in model.modules():
        if isinstance(m, MemoryModule):
            m.reset()
    return model
