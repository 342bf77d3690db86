"""Event transforms in tonic's manner: frozen dataclasses over a functional core."""

from .representations import (
    ToAFEFrames,
    ToFrame,
    ToPointCloud,
    ToVoxelGrid,
    frames_batch,
    point_cloud_batch,
    voxel_batch,
)
