"""Pictures of representations: count frames, voxel grids, SpikePoint point clouds, AFE frames.

Each is computed with the same transforms the models use (:mod:`eventar.transforms`), so the
picture shows exactly what a network is fed.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..errors import EventarError
from ._style import counts_to_rgb, pyplot
from .events import Source, as_recording

KINDS = ("frames", "voxel", "pointcloud", "afe")


def compute_representation(source: Source, kind: str, *, bins: int = 6, sensor_size: Optional[Sequence[int]] = None, **params: Any) -> Dict[str, Any]:
    """Compute a representation of a recording for display.

    Args:
        kind: ``frames`` ((T, 2, H, W) counts, ``n_time_bins=bins``), ``voxel`` ((T, H, W) signed,
            ``n_time_bins=bins``), ``pointcloud`` (first window of ``ToPointCloud``: (N, 3) in
            [0, 1], window/step/points from ``params``), ``afe`` (AFE frames, (T, C, H, W)).
        params: extra transform parameters (e.g. ``window_us``, ``n_points`` for point clouds).
    Returns:
        dict with ``kind``, ``data`` (numpy array), and ``recording``.
    """
    from .. import transforms as T

    rec = as_recording(source, sensor_size)
    ev = rec.events.copy()
    ev["t"] -= ev["t"][0]
    if kind == "frames":
        data = np.asarray(T.ToFrame(sensor_size=rec.sensor_size, n_time_bins=bins, include_last=True, **params)(ev))
    elif kind == "voxel":
        data = np.asarray(T.ToVoxelGrid(sensor_size=rec.sensor_size, n_time_bins=bins, **params)(ev))
        data = data.reshape(data.shape[0], *data.shape[-2:]) if data.ndim == 4 and data.shape[1] == 1 else data
    elif kind == "pointcloud":
        span = int(ev["t"][-1]) + 1
        args = dict(window_us=span, step_us=span, n_points=2048, min_events=1, seed=0)
        args.update(params)
        out = T.ToPointCloud(sensor_size=rec.sensor_size, **args)(ev)
        clouds = np.asarray(out[0] if isinstance(out, tuple) else out)
        if clouds.shape[0] == 0:
            raise EventarError("no point-cloud window has enough events to show")
        data = clouds[0]
    elif kind == "afe":
        out = T.ToAFEFrames(sensor_size=rec.sensor_size, **params)(ev)
        data = np.asarray(out)
    else:
        raise EventarError(f"unknown representation '{kind}'; choose from {', '.join(KINDS)}")
    return {"kind": kind, "data": data, "recording": rec}


def plot_representation(source: Source, kind: str = "frames", *, bins: int = 6, sensor_size: Optional[Sequence[int]] = None, **params: Any):
    """Figure of one representation (see :func:`compute_representation` for ``kind`` and ``params``).

    frames: one panel per bin (ON red, OFF blue); voxel: one panel per bin in a signed colour map
    (red positive, blue negative, symmetric limits at the 99th percentile of |value|); pointcloud: a 3-D scatter with time as the
    third axis, coloured by time; afe: one panel per frame.

    Returns:
        the matplotlib Figure.
    """
    rep = compute_representation(source, kind, bins=bins, sensor_size=sensor_size, **params)
    data, rec = rep["data"], rep["recording"]
    plt = pyplot()
    if kind == "pointcloud":
        fig = plt.figure(figsize=(6, 5), constrained_layout=True)
        ax = fig.add_subplot(projection="3d")
        ax.scatter(data[:, 0] * rec.width, data[:, 2], data[:, 1] * rec.height, c=data[:, 2], cmap="viridis", s=2, depthshade=False)
        ax.set_xlabel("x (px)")
        ax.set_ylabel("t (window fraction)")
        ax.set_zlabel("y (px)")
        ax.invert_zaxis()
        ax.set_title(f"point cloud: {data.shape[0]} points of the first window")
        return fig
    panels = data.shape[0]
    fig, axes = plt.subplots(1, panels, figsize=(2.2 * panels, 2.2 * rec.height / rec.width + 0.6), constrained_layout=True, squeeze=False)
    if kind == "voxel":
        vals = data if data.ndim == 3 else data.sum(axis=1)
        nz = np.abs(vals[vals != 0])
        lim = float(np.percentile(nz, 99)) if nz.size else 1.0  # robust to a few hot pixels
        for i, ax in enumerate(axes[0]):
            im = ax.imshow(vals[i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_title(f"bin {i}", fontsize="small")
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="signed polarity")
    else:
        for i, ax in enumerate(axes[0]):
            frame = data[i]
            if frame.ndim == 3 and frame.shape[0] >= 2:
                img = counts_to_rgb(frame[1], frame[0])
                ax.imshow(img, interpolation="nearest")
            else:
                ax.imshow(frame.reshape(frame.shape[-2:]), cmap="gray_r", interpolation="nearest")
            ax.set_title(f"{'bin' if kind == 'frames' else 'frame'} {i}", fontsize="small")
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{kind}: shape {tuple(data.shape)}", fontsize="medium")
    return fig
