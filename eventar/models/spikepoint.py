"""SpikePoint (Ren et al., ICLR 2024): a point-based spiking network for event action recognition.

No official code exists; this follows the paper (Ren et al., ICLR 2024, arXiv 2310.07189).
Pipeline for one window of events turned into a point cloud ``(N, 3)`` = (x/W, y/H, t relative):

1. **Sampling and grouping** (no gradient): M centroids by farthest point sampling, k nearest
   neighbours of each (``eventar.nn.pointnet``).
2. **Coordinates**: per neighbour ``X1 = [|Δx|, |Δy|, |Δz|, x_min, y_min, z_min]`` with
   ``Δ = (g - centroid) / SD`` and the group's per-axis minima compensating the lost sign; per group
   the centroid branch ``X2 = [x_c, y_c, z_c]``.  Values are clipped to [0, 1].
3. **Rate coding**: every value v becomes T Bernoulli(v) spikes (time axis = T resamplings).
4. **Local extractor**: two branches ``Conv1D -> ResF_B``; the neighbour branch is max-pooled over
   the k neighbours and the branches are added.
5. **Global extractor**: ``L1 = ResF(Conv1D 1D->2D)``, ``L2 = ResF(Conv1D 2D->4D)``, a final
   ``Conv1D 4D->8D``, then max over the M groups.
6. **Classifier**: ``fc1 -> bn1 -> LIF -> fc2 -> bn2 -> LIF`` onto ``voters`` neurons per class,
   averaged per class ("voting"), averaged over T: logits ``(B, C)`` = voted firing rates.

Residuals add spikes *after* the neuron: ``S_l = LIF(BN(Conv(S_{l-1}))) + S_{l-1}``
(``ResF``); ``ResF_B`` is the bottleneck D -> D/2 -> D.  "Conv1D" is a kernel-1 convolution, i.e. a
bias-free linear map over the channel axis, always followed by BatchNorm and a spiking neuron.

Rate coding and determinism: in training mode the Bernoulli draws use torch's global RNG (so
``torch.manual_seed`` makes a run repeatable); in eval mode they use a private generator seeded with
``eval_seed`` on every forward, so evaluating the same input twice gives the same logits (set
``eval_seed=None`` to sample from the global RNG in eval too).

>>> import eventar, torch
>>> model = eventar.create_model("spikepoint_synthetic", num_classes=4).eval()
>>> model(model.example_input(2)).shape
torch.Size([2, 4])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..errors import ConfigError, EventarError
from ..nn.lif import IF, LIF, ParametricLIF
from ..nn.pointnet import farthest_point_sample, gather_points, knn
from ._registry import register_model


@dataclass(frozen=True)
class SpikePointConfig:
    """Every SpikePoint hyper-parameter.  "paper" = stated by the paper (per the reading notes);
    "open" = the paper leaves it open and this is our choice."""

    num_classes: int = 10
    n_points: int = 1024        # paper (App. A.8): N points sampled per window; the input's N
    n_groups: int = 1024        # paper (Fig. 8): M FPS centroids.  M = N means FPS only reorders
    k: int = 24                 # paper: neighbours per group
    timesteps: int = 16         # paper: T rate-coding steps
    local_dim: int = 64         # paper: D, 32 (small model) or 64 (large); global widths 2D, 4D, 8D
    voters: int = 10            # paper: voting neurons per class (mean over them, as SpikingJelly's VotingLayer)
    sd_scope: str = "sample"    # open: SD of the offsets over the whole sample ('sample', as the
    #                             authors' later PointMLP grouper), per group ('group') or per group and axis ('group_axis')
    compensation: str = "min"   # paper: 'min' (x_min, y_min, z_min channels; best in Table 8) or
    #                             'mean' (the paper's alternative: centroid c - sqrt(2/pi)*SD, no min channels)
    neuron: str = "plif"        # paper (App. A.8): ParametricLIF; 'lif' / 'if' for the ablations
    init_tau: float = 2.0       # paper (App. A.8)
    decay_input: bool = False   # paper (App. A.8): "no decay input"
    v_threshold: float = 1.0    # open: SpikingJelly default
    v_reset: Optional[float] = 0.0  # open: SpikingJelly default (hard reset); None = soft reset
    surrogate: str = "atan"     # paper: ATan
    alpha: float = 2.0          # paper: ATan alpha = 2 (sigma'(x) = 1/(1+(pi x)^2))
    detach_reset: bool = False  # open: SpikingJelly default
    dropout: float = 0.0        # open: Fig. 8 draws 0.5 before the classifier, App. A.7.1 says none
    eps: float = 1e-5           # open: added to SD before dividing
    eval_seed: Optional[int] = 0  # ours: eval-mode rate-coding seed (None = global RNG)
    output: str = "mean"        # ours: 'mean' -> (B, C) logits; 'sequence' -> (T, B, C) voted outputs
    #                             per step (the exact input of the paper's MSE loss)

    def validate(self) -> "SpikePointConfig":
        """Check ranges and choices; raise :class:`ConfigError` naming the field."""
        for name in ("num_classes", "n_points", "n_groups", "k", "timesteps", "local_dim", "voters"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"SpikePointConfig.{name}={v!r} must be a positive integer")
        if self.local_dim % 2:
            raise ConfigError(f"SpikePointConfig.local_dim={self.local_dim} must be even (bottleneck D/2)")
        if self.n_groups > self.n_points or self.k > self.n_points:
            raise ConfigError(f"SpikePointConfig: n_groups={self.n_groups} and k={self.k} must not exceed "
                              f"n_points={self.n_points}")
        choices = dict(sd_scope=("sample", "group", "group_axis"), compensation=("min", "mean"),
                       neuron=("plif", "lif", "if"), output=("mean", "sequence"))
        for name, ok in choices.items():
            if getattr(self, name) not in ok:
                raise ConfigError(f"SpikePointConfig.{name}={getattr(self, name)!r}; expected one of {ok}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"SpikePointConfig.dropout={self.dropout} must be in [0, 1)")
        return self

    @property
    def in_channels(self) -> int:
        """Channels per neighbour: 6 with min compensation, 3 without."""
        return 6 if self.compensation == "min" else 3


# ----------------------------------------------------------------------------------------------
# grouping and coding (no parameters)

def group_features(points: torch.Tensor, cfg: SpikePointConfig):
    """Sample, group and build SpikePoint's two coordinate inputs (values in [0, 1]).

    Args:
        points: (B, N, 3) float, columns (x/W, y/H, t) each in [0, 1].
        cfg: sizes and the SD / compensation choices.

    Returns:
        ``(x1, x2)``: x1 (B, M, k, 6) per-neighbour ``[|Δ|/SD (3), group minima (3)]`` (or (B, M, k, 3)
        with ``compensation='mean'``), x2 (B, M, 3) centroid coordinates, both clipped to [0, 1].
    """
    B, N, _ = points.shape
    with torch.no_grad():
        if cfg.n_groups == N:
            # FPS of all N points only reorders them; the model is invariant to group order.
            centroid_idx = torch.arange(N, device=points.device).expand(B, N)
        else:
            centroid_idx = farthest_point_sample(points, cfg.n_groups)
        centroids = gather_points(points, centroid_idx)                  # (B, M, 3)
        groups = gather_points(points, knn(points, centroids, cfg.k))     # (B, M, k, 3)
        delta = groups - centroids.unsqueeze(2)
        if cfg.sd_scope == "sample":
            sd = delta.reshape(B, -1).std(dim=1).reshape(B, 1, 1, 1)
        elif cfg.sd_scope == "group":
            sd = delta.reshape(B, cfg.n_groups, -1).std(dim=2).reshape(B, cfg.n_groups, 1, 1)
        else:
            sd = delta.std(dim=2, keepdim=True)
        rel = delta.abs() / (sd + cfg.eps)
        if cfg.compensation == "min":
            mins = groups.min(dim=2, keepdim=True).values.expand_as(groups)
            x1 = torch.cat([rel, mins], dim=-1)
            x2 = centroids
        else:
            # E|Δ| of a standard normal is sqrt(2/pi): shift the centroid by that many SDs instead
            x1 = rel
            x2 = centroids - math.sqrt(2 / math.pi) * sd.squeeze(2)
        return x1.clamp(0, 1), x2.clamp(0, 1)


def rate_code(values: torch.Tensor, timesteps: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Bernoulli rate coding: ``s[t] = 1 if u[t] < v`` with ``u ~ U[0, 1)``.

    Args:
        values: (...) probabilities in [0, 1] (0 never fires, 1 always fires).
        timesteps: T.
        generator: optional torch generator (on ``values``' device) for reproducible draws.

    Returns:
        (T, ...) spikes in {0, 1}, dtype of ``values``.
    """
    u = torch.rand((timesteps, *values.shape), generator=generator, device=values.device, dtype=values.dtype)
    return (u < values.unsqueeze(0)).to(values.dtype)


# ----------------------------------------------------------------------------------------------
# layers

def make_neuron(cfg: SpikePointConfig) -> nn.Module:
    """The configured spiking neuron module (time-first, stateless)."""
    common = dict(v_threshold=cfg.v_threshold, v_reset=cfg.v_reset, surrogate=cfg.surrogate,
                  alpha=cfg.alpha, detach_reset=cfg.detach_reset)
    if cfg.neuron == "plif":
        return ParametricLIF(init_tau=cfg.init_tau, decay_input=cfg.decay_input, **common)
    if cfg.neuron == "lif":
        return LIF(tau=cfg.init_tau, decay_input=cfg.decay_input, **common)
    return IF(**common)


class SpikingPointwise(nn.Module):
    """Conv1D (kernel 1 = bias-free linear over channels) -> BatchNorm -> spiking neuron.

    Shape: (T, ..., c_in) spikes -> (T, ..., c_out) spikes; BatchNorm statistics over every
    leading axis (T, batch, groups, neighbours), as SpikingJelly's SeqToANNContainer.
    """

    def __init__(self, c_in: int, c_out: int, cfg: SpikePointConfig, bias: bool = False):
        super().__init__()
        self.fc = nn.Linear(c_in, c_out, bias=bias)
        self.bn = nn.BatchNorm1d(c_out)
        self.neuron = make_neuron(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        y = self.bn(y.reshape(-1, y.shape[-1])).reshape(y.shape)
        return self.neuron(y)


class ResF(nn.Module):
    """Post-neuron residual: ``x + LIF(BN(Conv_{D->D}(x)))``; (T, ..., D) -> (T, ..., D)."""

    def __init__(self, dim: int, cfg: SpikePointConfig):
        super().__init__()
        self.body = SpikingPointwise(dim, dim, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ResFB(nn.Module):
    """Bottleneck post-neuron residual: ``x + LIF(BN(Conv_{D/2->D}(LIF(BN(Conv_{D->D/2}(x))))))``."""

    def __init__(self, dim: int, cfg: SpikePointConfig):
        super().__init__()
        self.down = SpikingPointwise(dim, dim // 2, cfg)
        self.up = SpikingPointwise(dim // 2, dim, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x)) + x


class SpikePoint(nn.Module):
    """SpikePoint network.

    Args:
        cfg: a :class:`SpikePointConfig`.

    Shape:
        input ``(B, N, 3)`` float points (x/W, y/H, t) in [0, 1] with N >= n_groups and N >= k
        (normally N = cfg.n_points); output ``(B, num_classes)`` voted firing rates in [0, 1] used as
        logits, or ``(T, B, num_classes)`` with ``output='sequence'``.
    """

    def __init__(self, cfg: SpikePointConfig):
        super().__init__()
        self.cfg = cfg.validate()
        d = cfg.local_dim
        self.local_in = SpikingPointwise(cfg.in_channels, d, cfg)
        self.local_res = ResFB(d, cfg)
        self.centroid_in = SpikingPointwise(3, d, cfg)
        self.centroid_res = ResFB(d, cfg)
        self.stage1_in = SpikingPointwise(d, 2 * d, cfg)
        self.stage1_res = ResF(2 * d, cfg)
        self.stage2_in = SpikingPointwise(2 * d, 4 * d, cfg)
        self.stage2_res = ResF(4 * d, cfg)
        self.global_out = SpikingPointwise(4 * d, 8 * d, cfg)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.fc1 = SpikingPointwise(8 * d, 8 * d, cfg, bias=True)
        self.fc2 = SpikingPointwise(8 * d, cfg.voters * cfg.num_classes, cfg, bias=True)

    def example_input(self, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
        """A random valid input: (batch_size, n_points, 3) uniform in [0, 1), on the model's device."""
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(batch_size, self.cfg.n_points, 3, generator=gen)
        return x.to(next(self.parameters()).device)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise EventarError(f"SpikePoint input must be points of shape (B, N, 3) = (x/W, y/H, t), got {shape}")
        n = x.shape[1]
        if n < self.cfg.n_groups or n < self.cfg.k:
            raise EventarError(f"SpikePoint input has N={n} points; this model needs at least "
                               f"n_groups={self.cfg.n_groups} and k={self.cfg.k}")

    def encode(self, points: torch.Tensor):
        """Group and rate-code: (B, N, 3) -> spikes x1 (T, B, M, k, 6) and x2 (T, B, M, 3)."""
        cfg = self.cfg
        x1, x2 = group_features(points.float(), cfg)
        gen = None
        if not self.training and cfg.eval_seed is not None:
            gen = torch.Generator(device=points.device)
            gen.manual_seed(int(cfg.eval_seed))
        return rate_code(x1, cfg.timesteps, gen), rate_code(x2, cfg.timesteps, gen)

    def forward_sequence(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) points -> (T, B, num_classes) voted outputs per step, values in [0, 1]."""
        self._check(points)
        s1, s2 = self.encode(points)
        f1 = self.local_res(self.local_in(s1)).amax(dim=3)         # max over k neighbours
        f2 = self.centroid_res(self.centroid_in(s2))
        f = f1 + f2                                                # (T, B, M, D)
        f = self.stage1_res(self.stage1_in(f))
        f = self.stage2_res(self.stage2_in(f))
        f = self.global_out(f).amax(dim=2)                         # max over M groups: (T, B, 8D)
        v = self.fc2(self.fc1(self.dropout(f)))                    # (T, B, voters * C)
        T, B = v.shape[:2]
        return v.reshape(T, B, self.cfg.num_classes, self.cfg.voters).mean(dim=-1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) points -> (B, num_classes) (or (T, B, C) with ``output='sequence'``)."""
        seq = self.forward_sequence(points)
        return seq if self.cfg.output == "sequence" else seq.mean(dim=0)


def spikepoint_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SpikePoint's loss: mean over steps and classes of ``(Y[t, c] - onehot(y)[c])²``, mean over the batch.

    Args:
        output: (T, B, C) voted outputs per step (``output='sequence'``), or (B, C) (then the
            squared error of the time-averaged output, a lower bound of the paper's loss).
        target: (B,) int64 class indices.

    Returns:
        scalar tensor.
    """
    if output.dim() not in (2, 3):
        raise EventarError(f"spikepoint_loss: output must be (B, C) or (T, B, C), got {tuple(output.shape)}")
    onehot = torch.nn.functional.one_hot(target, output.shape[-1]).to(output.dtype)
    return ((output - onehot) ** 2).mean()


# ----------------------------------------------------------------------------------------------
# variants

_SMALL = dict(local_dim=32)
_LARGE = dict(local_dim=64)


def _build(defaults: Dict[str, Any], overrides: Dict[str, Any]) -> SpikePoint:
    names = {f.name for f in fields(SpikePointConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"SpikePoint does not take {unknown}; it takes {sorted(names)}")
    return SpikePoint(replace(SpikePointConfig(), **{**defaults, **overrides}))


@register_model
def spikepoint_dvsgesture(**overrides: Any) -> SpikePoint:
    """DVS128 Gesture (10 classes, 'other' dropped): large model, paper 0.58 M parameters."""
    return _build(dict(_LARGE, num_classes=10), overrides)


@register_model
def spikepoint_dailydvs(**overrides: Any) -> SpikePoint:
    """Daily DVS (12 classes): small model, paper 0.16 M parameters."""
    return _build(dict(_SMALL, num_classes=12), overrides)


@register_model
def spikepoint_dvsaction(**overrides: Any) -> SpikePoint:
    """DVS Action (10 classes): small model, 0.16 M parameters."""
    return _build(dict(_SMALL, num_classes=10), overrides)


@register_model
def spikepoint_hmdb51dvs(**overrides: Any) -> SpikePoint:
    """HMDB51-DVS (51 classes): large model, paper 0.79 M parameters."""
    return _build(dict(_LARGE, num_classes=51), overrides)


@register_model
def spikepoint_ucf101dvs(**overrides: Any) -> SpikePoint:
    """UCF101-DVS (101 classes): large model, paper 1.05 M parameters."""
    return _build(dict(_LARGE, num_classes=101), overrides)


@register_model
def spikepoint_synthetic(**overrides: Any) -> SpikePoint:
    """Small SpikePoint for CPU training on ``SyntheticGestures`` (11 classes; not a paper variant):
    256 points, 16 groups of 16 neighbours, T = 16 (the paper's), D = 32 (the paper's small width) —
    the paper's layers at a size 2 CPU cores train in minutes (``make run``: ≈ 94 % test accuracy in
    12 epochs).  D = 16 plateaued near 80 %: capacity, not the data, was the limit."""
    return _build(dict(num_classes=11, n_points=256, n_groups=16, k=16, timesteps=16, local_dim=32), overrides)


#: Paper parameter counts (millions) per variant, as the paper reports them.
PAPER_PARAMS_M = {"spikepoint_dvsgesture": 0.58, "spikepoint_dailydvs": 0.16, "spikepoint_dvsaction": 0.16,
                  "spikepoint_hmdb51dvs": 0.79, "spikepoint_ucf101dvs": 1.05}


def smoke_overrides(name: str) -> Dict[str, Any]:
    """Overrides giving a tiny instance of variant ``name`` (same layers, fewer points, groups and
    steps) for the registry smoke test (convention in :mod:`eventar.models._registry`)."""
    return dict(n_points=32, n_groups=8, k=4, timesteps=2)


def example_input(model: SpikePoint, batch_size: int = 2) -> torch.Tensor:
    """Registry convention: a valid random input for ``model``, (batch_size, n_points, 3) in [0, 1)."""
    return model.example_input(batch_size)


def config_dict(model: SpikePoint) -> Dict[str, Any]:
    """The model's configuration as a plain dict (e.g. to write next to a checkpoint)."""
    return asdict(model.cfg)
