"""Longformer-style temporal encoder: sliding-window local attention plus global tokens.

eventar's own torch implementation of the attention pattern of Beltagy et al. (2020), as
EventTransAct uses it through HuggingFace's ``LongformerModel`` (its official code).  We do not depend
on HF transformers: the sequences here are short (16–360 frames), the semantics are small enough
to state exactly, and the model must run without extra packages.

Semantics (HF's, with ``attention_window = w``, so ``r = w // 2`` neighbours on each side):

* a **local** token i attends to local tokens j with ``|i − j| ≤ r`` and to every global token,
  using the ordinary ``query``/``key``/``value`` projections;
* a **global** token attends to every token with its own ``query_global``/``key_global``/
  ``value_global`` projections (HF's separate global projections, hence ≈ 8.86 M parameters per
  768-wide layer);
* layers are post-norm (BERT): ``LN(x + Dropout(Attn(x)))`` then ``LN(h + Dropout(FFN(h)))``.

:func:`sliding_window_attention` computes the local part in O(L·w) by gathering each query's
window; :func:`banded_attention_ref` is the O(L²) twin with an explicit band mask, used by the
tests to show the two agree.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def band_mask(length: int, radius: int, global_mask: torch.Tensor) -> torch.Tensor:
    """Boolean (L, L) mask, True where query i may attend key j.

    Args:
        length: sequence length L.
        radius: one-sided window r (``attention_window // 2``).
        global_mask: (L,) bool, True for global tokens (they attend and are attended everywhere).
    """
    idx = torch.arange(length, device=global_mask.device)
    allowed = (idx[:, None] - idx[None, :]).abs() <= radius
    return allowed | global_mask[None, :] | global_mask[:, None]


def banded_attention_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, radius: int, global_mask: torch.Tensor) -> torch.Tensor:
    """Reference: dense softmax attention restricted by :func:`band_mask`.

    Args:
        q, k, v: (B, h, L, d) queries, keys, values (one projection for every token).
        radius: one-sided window r.
        global_mask: (L,) bool.
    Returns:
        (B, h, L, d) attention output.
    """
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~band_mask(q.shape[-2], radius, global_mask), float("-inf"))
    return scores.softmax(-1) @ v


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, radius: int, global_mask: torch.Tensor, dropout_p: float = 0.0
) -> torch.Tensor:
    """Local tokens' attention in O(L·(2r+1+G)): each query sees its window and the global keys.

    Global positions are removed from every local window (they enter once, as global keys), so the
    result equals :func:`banded_attention_ref` on the rows of local queries.  Rows of global
    queries are returned as zeros: they are computed separately with the global projections.

    Args:
        q, k, v: (B, h, L, d).
        radius: one-sided window r ≥ 0.
        global_mask: (L,) bool.
        dropout_p: dropout on the attention probabilities (training only; 0 in tests).
    Returns:
        (B, h, L, d).
    """
    b, h, length, d = q.shape
    width = 2 * radius + 1
    scale = 1.0 / math.sqrt(d)
    # Pad the key/value sequence by r on both sides and view every query's window: (B, h, L, w, d).
    kp = F.pad(k, (0, 0, radius, radius))
    vp = F.pad(v, (0, 0, radius, radius))
    kw = kp.unfold(2, width, 1).transpose(-1, -2)
    vw = vp.unfold(2, width, 1).transpose(-1, -2)
    local_scores = torch.einsum("bhld,bhlwd->bhlw", q, kw) * scale
    # Window slot s of query i holds key i - r + s; mask padding and global keys.
    pos = torch.arange(length, device=q.device)[:, None] - radius + torch.arange(width, device=q.device)[None, :]
    valid = (pos >= 0) & (pos < length)
    is_global_key = torch.zeros_like(valid)
    is_global_key[valid] = global_mask[pos[valid]]
    local_scores = local_scores.masked_fill(~valid | is_global_key, float("-inf"))

    g_idx = torch.nonzero(global_mask, as_tuple=False).flatten()
    if g_idx.numel():
        kg, vg = k[:, :, g_idx], v[:, :, g_idx]  # (B, h, G, d)
        global_scores = (q @ kg.transpose(-1, -2)) * scale  # (B, h, L, G)
        probs = F.dropout(torch.cat([local_scores, global_scores], dim=-1).softmax(-1), dropout_p)
        out = torch.einsum("bhlw,bhlwd->bhld", probs[..., :width], vw) + probs[..., width:] @ vg
    else:
        probs = F.dropout(local_scores.softmax(-1), dropout_p)
        out = torch.einsum("bhlw,bhlwd->bhld", probs, vw)
    return out.masked_fill(global_mask[None, None, :, None], 0.0)


class LongformerSelfAttention(nn.Module):
    """Multi-head sliding-window + global self-attention (x: (B, L, E) -> (B, L, E))."""

    def __init__(self, dim: int, heads: int, window: int, dropout: float = 0.1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if window < 0 or window % 2:
            raise ValueError(f"attention window must be an even number >= 0, got {window}")
        self.heads, self.radius = heads, window // 2
        self.query, self.key, self.value = (nn.Linear(dim, dim) for _ in range(3))
        self.query_global, self.key_global, self.value_global = (nn.Linear(dim, dim) for _ in range(3))
        self.dropout_p = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, length, e = x.shape
        return x.view(b, length, self.heads, e // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, global_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, E); global_mask: (L,) bool. Returns (B, L, E)."""
        b, length, e = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        p = self.dropout_p if self.training else 0.0
        out = sliding_window_attention(q, k, v, self.radius, global_mask, p)
        g_idx = torch.nonzero(global_mask, as_tuple=False).flatten()
        if g_idx.numel():
            qg = self._split(self.query_global(x[:, g_idx]))
            kg, vg = self._split(self.key_global(x)), self._split(self.value_global(x))
            attn = (qg @ kg.transpose(-1, -2) / math.sqrt(qg.shape[-1])).softmax(-1)
            out = out.index_copy(2, g_idx, F.dropout(attn, p) @ vg)
        return out.transpose(1, 2).reshape(b, length, e)


class LongformerLayer(nn.Module):
    """Post-norm transformer layer with :class:`LongformerSelfAttention` (x: (B, L, E) -> same)."""

    def __init__(self, dim: int, heads: int, window: int, mlp_dim: int, dropout: float = 0.1):
        super().__init__()
        self.attn = LongformerSelfAttention(dim, heads, window, dropout)
        self.attn_out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, mlp_dim), nn.Linear(mlp_dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, global_mask: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x + self.dropout(self.attn_out(self.attn(x, global_mask))))
        return self.norm2(h + self.dropout(self.fc2(F.gelu(self.fc1(h)))))


class LongformerEncoder(nn.Module):
    """[CLS] + frame features -> contextualised sequence, CLS global (x: (B, T, E) -> (B, 1+T, E)).

    Args:
        dim: hidden size E.
        depth: number of layers (3 in EventTransAct).
        heads: attention heads (12 for ViT-B).
        window: HF ``attention_window`` (18 in EventTransAct: each frame sees ±9 frames).
        mlp_dim: feed-forward width (3072 for ViT-B).
        max_positions: size of the learned position table (frames beyond it raise).
        dropout: attention and hidden dropout (0.1).
    """

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_dim: int, max_positions: int = 288, dropout: float = 0.1):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.position = nn.Embedding(max_positions, dim)
        self.token_type = nn.Embedding(2, dim)  # 1 for CLS, 0 for frames, as in the original code
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(LongformerLayer(dim, heads, window, mlp_dim, dropout) for _ in range(depth))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, e = frames.shape
        if t + 1 > self.position.num_embeddings:
            raise ValueError(f"{t} frames + CLS exceed the {self.position.num_embeddings} learned positions")
        x = torch.cat([self.cls.expand(b, 1, e), frames], dim=1)
        pos = torch.arange(t + 1, device=x.device)
        types = torch.zeros(t + 1, dtype=torch.long, device=x.device)
        types[0] = 1
        x = self.dropout(self.norm(x + self.position(pos) + self.token_type(types)))
        global_mask = types.bool()
        for layer in self.layers:
            x = layer(x, global_mask)
        return x
