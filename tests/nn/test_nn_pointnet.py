"""Farthest point sampling, k nearest neighbours and gathering against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eventar.errors import EventarError
from eventar.nn.pointnet import farthest_point_sample, gather_points, knn


def _fps_brute(pts: np.ndarray, m: int, start: int = 0) -> list:
    chosen = [start]
    while len(chosen) < m:
        best, best_d = None, -1.0
        for i in range(len(pts)):
            d = min(float(((pts[i] - pts[j]) ** 2).sum()) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def _knn_brute(pts: np.ndarray, q: np.ndarray, k: int) -> list:
    out = []
    for c in q:
        d = [(float(((p - c) ** 2).sum()), i) for i, p in enumerate(pts)]
        out.append([i for _, i in sorted(d)[:k]])
    return out


@pytest.mark.parametrize("B,N,m", [(1, 5, 3), (3, 40, 12), (2, 17, 17)])
def test_fps_equals_brute_force(B, N, m):
    pts = torch.rand(B, N, 3, generator=torch.Generator().manual_seed(N), dtype=torch.float64)
    idx = farthest_point_sample(pts, m)
    assert idx.shape == (B, m) and idx.dtype == torch.int64
    for b in range(B):
        assert idx[b].tolist() == _fps_brute(pts[b].numpy(), m)
        assert len(set(idx[b].tolist())) == m


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_fps_and_knn_brute_force_property(n, k, seed):
    k = min(k, n)
    pts = torch.rand(1, n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    m = max(1, n // 2)
    start = seed % n
    idx = farthest_point_sample(pts, m, start=start)
    assert idx[0].tolist() == _fps_brute(pts[0].numpy(), m, start)
    q = gather_points(pts, idx)
    assert knn(pts, q, k)[0].tolist() == _knn_brute(pts[0].numpy(), q[0].numpy(), k)


def test_fps_hand_made_square():
    # centre and corners of a unit square, starting at corner (0,0): the opposite corner (d²=2),
    # then the two other corners (d²=1, tie -> lowest index), the centre (d²=0.5) last
    pts = torch.tensor([[[0.5, 0.5], [0, 0], [1, 0], [0, 1], [1, 1]]], dtype=torch.float64)
    assert farthest_point_sample(pts, 5, start=1).tolist() == [[1, 4, 2, 3, 0]]
    # from the centre every corner is at d²=0.5 and stays tied: lowest indices first
    assert farthest_point_sample(pts, 3, start=0).tolist() == [[0, 1, 2]]


@pytest.mark.parametrize("B,N,M,k", [(2, 30, 7, 5), (1, 9, 9, 9)])
def test_knn_equals_brute_force(B, N, M, k):
    gen = torch.Generator().manual_seed(M)
    pts = torch.rand(B, N, 3, generator=gen, dtype=torch.float64)
    q = torch.rand(B, M, 3, generator=gen, dtype=torch.float64)
    idx = knn(pts, q, k)
    assert idx.shape == (B, M, k)
    for b in range(B):
        assert idx[b].tolist() == _knn_brute(pts[b].numpy(), q[b].numpy(), k)


def test_knn_of_a_point_finds_itself_first():
    pts = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(0))
    idx = knn(pts, pts, 4)
    assert torch.equal(idx[..., 0], torch.arange(50).expand(2, 50))


def test_gather_points():
    pts = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    idx = torch.tensor([[[3, 0]], [[1, 1]]])
    out = gather_points(pts, idx)
    assert out.shape == (2, 1, 2, 3)
    assert out[0, 0, 0].tolist() == pts[0, 3].tolist() and out[1, 0, 1].tolist() == pts[1, 1].tolist()


def test_bad_arguments():
    pts = torch.rand(1, 5, 3)
    with pytest.raises(EventarError, match=r"\(B, N, D\)"):
        farthest_point_sample(torch.rand(5, 3), 2)
    with pytest.raises(EventarError, match="m=6"):
        farthest_point_sample(pts, 6)
    with pytest.raises(EventarError, match="start"):
        farthest_point_sample(pts, 2, start=5)
    with pytest.raises(EventarError, match="k=0"):
        knn(pts, pts, 0)
    with pytest.raises(EventarError, match="do not match"):
        knn(pts, torch.rand(2, 5, 3), 2)
    with pytest.raises(EventarError, match="floating"):
        knn(torch.ones(1, 5, 3, dtype=torch.long), pts, 2)
