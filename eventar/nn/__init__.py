"""Spiking and sequence layers: neurons (maths separate from modules), attention, selective scan.

Neurons are multi-step and time-first: ``(T, ...)`` real input -> ``(T, ...)`` spikes in {0, 1};
they keep no state between calls.  Functional forms are in :mod:`eventar.nn.neurons`.
"""

from .lif import IF, LIF, NEURONS, ParametricLIF, reset_states
from .neurons import if_multistep, lif_multistep, plif_multistep
from .surrogate import spike, surrogate_grad
from .scan import selective_scan, selective_scan_cpu, selective_scan_ref, scan_op_count
from .mamba import DropPath, Mamba, MambaBlock, MambaStack, RMSNorm
from .attention import SpikeSLABlock, SpikingLinearAttention, linear_attention, rope_2d
