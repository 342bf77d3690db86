"""Point-cloud sampling and grouping in pure torch: farthest point sampling, k nearest neighbours,
gathering.  Batched, device-agnostic, no compiled extension.

Shapes: ``points: (B, N, D)`` (D coordinates, usually 3), indices are ``int64``.
"""

from __future__ import annotations

import torch

from ..errors import EventarError


def _check_points(points: torch.Tensor, name: str = "points") -> None:
    if not isinstance(points, torch.Tensor) or points.dim() != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise EventarError(f"{name} must be a tensor of shape (B, N, D), got {shape}")
    if not points.is_floating_point():
        raise EventarError(f"{name} must be floating point, got {points.dtype}")


def farthest_point_sample(points: torch.Tensor, m: int, start: int = 0) -> torch.Tensor:
    """Greedy farthest point sampling.

    The first pick is index ``start``; each next pick is the point whose squared Euclidean distance
    to the nearest already-picked point is largest (ties: lowest index, as ``argmax``).

    Args:
        points: (B, N, D) float coordinates.
        m: number of points to pick, 1 <= m <= N.
        start: index of the first pick (deterministic; pass a random index for random starts).

    Returns:
        (B, m) int64 indices into the N axis, all distinct.
    """
    _check_points(points)
    B, N, _ = points.shape
    if not (1 <= m <= N):
        raise EventarError(f"farthest_point_sample: m={m} must be in [1, N={N}]")
    if not (0 <= start < N):
        raise EventarError(f"farthest_point_sample: start={start} must be in [0, N={N})")
    pts = points.detach()
    idx = torch.empty(B, m, dtype=torch.long, device=points.device)
    nearest = torch.full((B, N), float("inf"), dtype=pts.dtype, device=points.device)
    cur = torch.full((B,), start, dtype=torch.long, device=points.device)
    rows = torch.arange(B, device=points.device)
    for i in range(m):
        idx[:, i] = cur
        d = ((pts - pts[rows, cur].unsqueeze(1)) ** 2).sum(-1)       # (B, N)
        nearest = torch.minimum(nearest, d)
        cur = nearest.argmax(dim=1)
    return idx


def knn(points: torch.Tensor, queries: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` nearest ``points`` of every query (squared Euclidean distance, nearest first).

    Args:
        points: (B, N, D) float.
        queries: (B, M, D) float (e.g. FPS centroids; a query that is itself a point finds itself first).
        k: neighbours per query, 1 <= k <= N.

    Returns:
        (B, M, k) int64 indices into the N axis, sorted by increasing distance.
    """
    _check_points(points)
    _check_points(queries, "queries")
    B, N, D = points.shape
    if queries.shape[0] != B or queries.shape[2] != D:
        raise EventarError(f"knn: queries {tuple(queries.shape)} do not match points {tuple(points.shape)}")
    if not (1 <= k <= N):
        raise EventarError(f"knn: k={k} must be in [1, N={N}]")
    # exact differences (no |a|^2 + |b|^2 - 2ab shortcut, whose rounding reorders near ties)
    d = torch.cdist(queries.detach(), points.detach(), compute_mode="donot_use_mm_for_euclid_dist")
    return d.topk(k, dim=-1, largest=False, sorted=True).indices


def gather_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Index the N axis of ``points`` with ``idx``.

    Args:
        points: (B, N, C).
        idx: (B, ...) int64 indices in [0, N).

    Returns:
        (B, ..., C): ``out[b, i..., :] = points[b, idx[b, i...], :]``.
    """
    B, N, C = points.shape
    flat = idx.reshape(B, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, C))
    return out.reshape(*idx.shape, C)
