"""EventTransAct's input pipeline: 5 ms count frames, same-start views, ECL loss, 5-clip softmax test."""

import numpy as np
import pytest
import torch

import eventar
from eventar.events import make_events
from eventar.train.inputs import build_input
from eventar.train.inputs_eventtransact import clip_starts, count_frames


def recording():
    # ON at (4, 2) at t = 0..4 ms (bin 0), OFF at (9, 7) at 12 ms (bin 2), ON at (5, 3) at 2 s (beyond 100 bins)
    t = [0, 1000, 4999, 12000, 2_000_000]
    return make_events(t, [4, 4, 4, 9, 5], [2, 2, 2, 7, 3], [1, 1, 1, 0, 1])


def test_count_frames_bins_channels_and_downsampling():
    f = count_frames(recording(), (16, 8, 2), bin_us=5000, max_bins=100, downsample=2)
    assert f.shape == (100, 2, 4, 8) and f.dtype == np.uint8
    assert f[0, 0, 1, 2] == 3  # three ON events in bin 0, pixel (4,2) -> block (2,1)
    assert f[2, 1, 3, 4] == 1  # OFF channel second
    assert f.sum() == 4  # the event at 2 s is beyond the first 500 ms


def test_clip_starts_cover_the_valid_range():
    assert clip_starts(100, 16, 5, 5).tolist() == [0, 6, 12, 18, 24]
    with pytest.raises(eventar.EventarError, match="need 76 bins"):
        clip_starts(50, 16, 5, 5)


def test_two_views_share_the_start_and_differ_only_by_drops():
    spec = build_input("eventtransact_clips", max_bins=40, frames=4, stride=5, event_drop="nek")
    rng = np.random.default_rng(0)
    stack = np.random.default_rng(1).integers(0, 3, size=(40, 2, 8, 8)).astype(np.uint8)
    for _ in range(20):
        v = spec.augment(stack, rng)
        assert v.shape == (2, 4, 2, 8, 8)
        both = (v[0] != 0) & (v[1] != 0)
        assert np.array_equal(v[0][both], v[1][both])
        # every view is a strided clip of the stack with some pixels zeroed
        starts = [s for s in range(40 - 15) if np.all((v[0] == stack[s:s + 16:5]) | (v[0] == 0))]
        assert starts


def test_train_forward_loss_and_test_protocol():
    torch.manual_seed(0)
    spec = build_input("eventtransact_clips", max_bins=30, frames=4, stride=2, downsample=1, test_clips=3)
    model = eventar.create_model("eventtransact_synthetic", image_size=16, patch=4, num_classes=3)
    x = torch.rand(2, 2, 4, 2, 16, 16)
    out = spec.forward(model, x)
    assert isinstance(out, tuple) and out[0].shape == (2, 3) and out[1].shape == (2, 4, model.cfg.proj_dim)
    loss = spec.loss(out, torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    stack = torch.rand(2, 30, 2, 16, 16)
    with torch.no_grad():
        logp = spec.forward(model, stack)
        manual = torch.stack([model(stack[:, s:s + 7:2]).softmax(-1) for s in clip_starts(30, 4, 2, 3)]).mean(0)
    assert torch.allclose(logp.exp(), manual, atol=1e-6)
    assert torch.equal(spec.scores(logp), logp)


def test_log_counts_feeds_log1p_to_the_model_in_training_and_test():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x, return_projections=False):
            seen.append(x.clone())
            logits = torch.zeros(x.shape[0], 3)
            return (logits, torch.zeros(x.shape[0], x.shape[1], 4)) if return_projections else logits

    counts = torch.tensor([0.0, 1.0, 3.0, 54.0]).repeat(2, 2, 4, 2, 2, 1)  # (B, V, T, 2, H, W) with W = 4
    for log_counts, expect in [(False, counts), (True, torch.log1p(counts))]:
        spec = build_input("eventtransact_clips", max_bins=4, frames=4, stride=1, test_clips=1, log_counts=log_counts)
        seen.clear()
        spec.forward(Spy(), counts)
        assert torch.equal(seen[0], expect[:, 0]) and torch.equal(seen[1], expect[:, 1])
        seen.clear()
        spec.forward(Spy(), counts[:, 0])  # test layout (B, max_bins, 2, H, W)
        assert torch.equal(seen[0], expect[:, 0])
