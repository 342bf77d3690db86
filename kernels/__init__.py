"""Representation kernels (installed as ``eventar.kernels``): numpy reference, numba CPU and
numba.cuda GPU implementations of event frames, voxel grids, SpikePoint point clouds and AFE
frames, behind one dispatcher (:mod:`eventar.kernels._dispatch`, ``EVENTAR_KERNELS=ref|numba|cuda``).

The functions here take event *columns* (``t`` in µs, ``x``, ``y``, ``p``) - numpy arrays, strided
field views of a structured array, or torch tensors - and, for the batched forms, a ragged batch:
B streams concatenated plus ``offsets`` (B+1,).  The tonic-style transforms in
:mod:`eventar.transforms` are thin wrappers over these.  Importing this package imports numba but
never numba.cuda or torch.
"""

from ._api import afe_frames, frames_batch, point_cloud_windows, to_frame, to_voxel_grid, voxel_batch
from ._dispatch import BACKENDS, choose
from .afe import AFE_PRESETS, afe_segments
from .errors import KernelUnavailableError
from .pointcloud import Windows

__all__ = [
    "AFE_PRESETS",
    "BACKENDS",
    "KernelUnavailableError",
    "Windows",
    "afe_frames",
    "afe_segments",
    "choose",
    "frames_batch",
    "point_cloud_windows",
    "to_frame",
    "to_voxel_grid",
    "voxel_batch",
]
