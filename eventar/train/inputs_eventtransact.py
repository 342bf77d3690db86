"""EventTransAct's input pipeline (as its official code builds it): 5 ms count frames, clips, two views, 5-clip test.

Per recording, ``prepare`` makes the count frames of the first ``max_bins`` bins of ``bin_us``
(100 × 5 ms = the first 500 ms in the paper's training protocol), per polarity, summed over
``downsample`` × ``downsample`` pixel blocks, stored as uint8 counts (saturating at 255; the
original stores int8 counts).  Channels are (ON, OFF); the model appends its all-zero third
channel.  Recordings shorter than ``max_bins`` bins are zero-padded.

* **train** (``augment``): a clip of ``frames`` frames taken every ``stride`` bins from a start drawn
  uniformly in [0, max_bins − (frames − 1)·stride); two views of the *same* start with independent
  event-drop augmentation (:class:`eventar.transforms.augment.EventDrop`, ``"dvs"`` preset = only
  random drop), giving a sample (2, T, 2, H', W').  The loss is CE on view 1 + ``ecl_weight`` · ECL
  over frames 0, ``ecl_step``, 2·``ecl_step`` … (:func:`eventar.nn.contrastive.event_contrastive_loss`).
* **test** (no augment): ``test_clips`` clips with starts evenly spaced over the valid range (the
  original draws them at random; evenly spaced makes evaluation deterministic), softmax
  probabilities averaged over the clips; the class scores are the log of that average.
* ``log_counts`` (default off, the paper feeds counts): the model gets ``log(1 + count)`` instead of
  the counts, in training and test alike (the cache keeps the counts).  Used by the small synthetic
  config, whose from-scratch ViT otherwise sees a few block sums of ~50 next to single noise
  events and learns the disc's position far more slowly.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .inputs import InputSpec, register_input


def count_frames(events: np.ndarray, sensor_size: Tuple[int, int, int], bin_us: int, max_bins: int, downsample: int) -> np.ndarray:
    """(max_bins, 2, H // ds, W // ds) uint8 counts, channels (ON, OFF), bins of ``bin_us`` from the first event.

    Uses :class:`eventar.transforms.ToFrame` (``time_window`` slicing from ``start_time`` = first
    event to ``start_time + max_bins · bin_us``), then sums ds × ds blocks and saturates at 255.
    """
    from ..transforms import ToFrame

    w, h = int(sensor_size[0]), int(sensor_size[1])
    ds = int(downsample)
    out = np.zeros((max_bins, 2, h // ds, w // ds), dtype=np.uint8)
    if len(events) == 0:
        return out
    t0 = int(events["t"][0])
    frames = np.asarray(ToFrame(sensor_size=(w, h, 2), time_window=bin_us, start_time=t0, end_time=t0 + max_bins * bin_us)(events))
    n = min(frames.shape[0], max_bins)
    frames = frames[:n, ::-1]  # ToFrame's channel index is p (OFF=0, ON=1) -> (ON, OFF)
    hh, ww = (h // ds) * ds, (w // ds) * ds
    blocks = frames[:, :, :hh, :ww].reshape(n, 2, hh // ds, ds, ww // ds, ds).sum(axis=(3, 5))
    out[:n] = np.minimum(blocks, 255)
    return out


def clip_starts(max_bins: int, frames: int, stride: int, n: int) -> np.ndarray:
    """``n`` clip starts evenly spaced over [0, max_bins − (frames − 1)·stride − 1] (ints)."""
    last = max_bins - (frames - 1) * stride - 1
    if last < 0:
        raise ConfigError(f"eventtransact: {frames} frames every {stride} bins need {(frames - 1) * stride + 1} bins, only max_bins={max_bins}")
    return np.round(np.linspace(0, last, n)).astype(np.int64)


@register_input("eventtransact_clips")
def eventtransact_clips(
    bin_us: int = 5000,
    max_bins: int = 100,
    frames: int = 16,
    stride: int = 5,
    downsample: int = 1,
    two_views: bool = True,
    event_drop: str = "dvs",
    ecl_weight: float = 1.0,
    ecl_step: int = 4,
    temperature: float = 0.1,
    cosine: bool = False,
    test_clips: int = 5,
    log_counts: bool = False,
) -> InputSpec:
    """EventTransAct clips (module docstring); ``event_drop``: "dvs", "nek" or "none"."""
    from ..nn.contrastive import event_contrastive_loss
    from ..transforms.augment import EventDrop

    bin_us, max_bins, frames, stride, downsample = int(bin_us), int(max_bins), int(frames), int(stride), int(downsample)
    starts_test = clip_starts(max_bins, frames, stride, int(test_clips))
    span = (frames - 1) * stride + 1
    drop = None if event_drop == "none" else EventDrop(event_drop)

    def prepare(events: np.ndarray, sensor_size: Tuple[int, int, int]) -> np.ndarray:
        return count_frames(events, sensor_size, bin_us, max_bins, downsample)[None]

    def augment(stack: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = int(rng.integers(0, max_bins - span + 1))
        clip = stack[s : s + span : stride]
        views = [clip if drop is None else drop(clip, rng) for _ in range(2 if two_views else 1)]
        return np.stack(views)

    def forward(model: torch.nn.Module, x: torch.Tensor) -> Any:
        if log_counts:
            x = torch.log1p(x)
        if x.dim() == 6:  # training: (B, V, T, 2, H, W)
            if x.shape[1] == 2:
                logits, p1 = model(x[:, 0], return_projections=True)
                _, p2 = model(x[:, 1], return_projections=True)
                return logits, p1, p2
            return model(x[:, 0])
        # test: (B, max_bins, 2, H, W) -> mean softmax over the evenly spaced clips
        probs = torch.stack([model(x[:, s : s + span : stride]).softmax(-1) for s in starts_test]).mean(0)
        return probs.clamp_min(1e-12).log()

    def loss(output: Any, target: torch.Tensor) -> torch.Tensor:
        if isinstance(output, tuple):
            logits, p1, p2 = output
            ecl, _ = event_contrastive_loss(p1, p2, ecl_step, temperature, cosine)
            return F.cross_entropy(logits.float(), target) + ecl_weight * ecl
        # Test outputs are log mean-probabilities: cross-entropy on them is their NLL.
        return F.cross_entropy(output.float(), target)

    def scores(output: Any) -> torch.Tensor:
        return output[0] if isinstance(output, tuple) else output

    key = f"eventtransact_clips:v1:bin_us={bin_us},max_bins={max_bins},downsample={downsample}"
    return InputSpec(prepare=prepare, cache_key=key, augment=augment, forward=forward, loss=loss, scores=scores)
