"""NT-Xent and EventTransAct's event-contrastive loss (ECL).

ECL (EventTransAct's event-contrastive loss, arXiv 2308.13711): two augmented views of the same clip go through the model; from each view
take the per-frame projections of frames 0, 4, 8, 12; within one video, the same frame index in
the other view is the positive and the other frames of *both* views are negatives (6 of them for 4
frames); NT-Xent with temperature 0.1 on the **raw dot product** (the original code's
``use_cosine_similarity=False``; cosine is an option), cross-entropy summed over the 8 anchors and
divided by 8, then averaged over the videos of the batch.
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1, cosine: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent over groups: each group's ``z1[g, i]`` and ``z2[g, i]`` are positives.

    Args:
        z1, z2: (G, N, d) (or (N, d) for one group) projections of the two views.
        temperature: τ (similarities are divided by it).
        cosine: L2-normalise before the dot product (SimCLR); False = raw dot product (EventTransAct).
    Returns:
        (loss, accuracy): loss = mean over groups of (CE summed over the 2N anchors / 2N);
        accuracy = fraction of anchors whose highest logit is their positive.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views have different shapes {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.dim() == 2:
        z1, z2 = z1[None], z2[None]
    g, n, _ = z1.shape
    z = torch.cat([z1, z2], dim=1)  # (G, 2N, d)
    if cosine:
        z = F.normalize(z, dim=-1)
    logits = z @ z.transpose(1, 2) / temperature  # (G, 2N, 2N)
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))  # an anchor is never its own negative
    idx = torch.arange(2 * n, device=z.device)
    target = (idx + n) % (2 * n)  # anchor i (view 1) <-> i + N (view 2)
    loss = F.cross_entropy(logits.reshape(g * 2 * n, 2 * n), target.repeat(g), reduction="sum") / (2 * n * g)
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, acc


def event_contrastive_loss(
    proj1: torch.Tensor, proj2: torch.Tensor, frame_step: int = 4, temperature: float = 0.1, cosine: bool = False
) -> Tuple[torch.Tensor, torch.Tensor]:
    """EventTransAct's ECL on per-frame projections of two views.

    Args:
        proj1, proj2: (B, T, d) per-frame projections of view 1 and view 2 (same clip, same start).
        frame_step: take frames 0, step, 2·step, … (4 → frames 0, 4, 8, 12 of 16).
        temperature: τ = 0.1 in the paper's code.
        cosine: see :func:`nt_xent`.
    Returns:
        (loss, intra-2D contrastive accuracy), both scalars.
    """
    return nt_xent(proj1[:, ::frame_step], proj2[:, ::frame_step], temperature, cosine)
