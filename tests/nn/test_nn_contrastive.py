"""NT-Xent / ECL: golden values on hand-made vectors and the positive/negative indexing."""

import math

import pytest
import torch

from eventar.nn.contrastive import event_contrastive_loss, nt_xent


def test_nt_xent_golden_two_pairs():
    # Two anchors per view, unit vectors along axes: z1 = [e0, e1], z2 = [e0, e1].
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = z1.clone()
    loss, acc = nt_xent(z1, z2, temperature=0.5)
    # Anchor 0 (e0): logits to [self masked, e1, e0, e1] = [-, 0, 2, 0]; positive logit 2.
    # CE = -2 + log(e^0 + e^2 + e^0); all four anchors are symmetric.
    expected = -2 + math.log(2 + math.exp(2))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert acc.item() == 1.0


def test_nt_xent_raw_dot_vs_cosine_differ_on_unnormalised_vectors():
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    raw, _ = nt_xent(z1, z2, temperature=1.0)
    cos, _ = nt_xent(z1, z2, temperature=1.0, cosine=True)
    # cosine: every anchor sees positive 1, negatives 0, 0 -> CE = -1 + log(e + 2)
    assert cos.item() == pytest.approx(-1 + math.log(math.e + 2), rel=1e-6)
    assert raw.item() != pytest.approx(cos.item(), rel=1e-3)


def test_ecl_uses_frames_0_4_8_12_and_same_index_positive():
    torch.manual_seed(0)
    b, t, d = 3, 16, 8
    p1, p2 = torch.randn(b, t, d), torch.randn(b, t, d)
    loss, _ = event_contrastive_loss(p1, p2)
    # Changing a frame that is not 0/4/8/12 leaves the loss unchanged ...
    p1b = p1.clone()
    p1b[:, 5] += 100
    assert event_contrastive_loss(p1b, p2)[0].item() == pytest.approx(loss.item(), rel=1e-6)
    # ... changing frame 4 does not.
    p1c = p1.clone()
    p1c[:, 4] += 1
    assert event_contrastive_loss(p1c, p2)[0].item() != pytest.approx(loss.item(), rel=1e-6)
    # Orthogonal selected frames, identical in both views: every anchor's top logit is its positive.
    p1d, p2d = p1.clone(), p2.clone()
    q, _ = torch.linalg.qr(torch.randn(d, 4))
    p1d[:, ::4] = 10 * q.T
    p2d[:, ::4] = 10 * q.T
    _, acc = event_contrastive_loss(p1d, p2d)
    assert acc.item() == 1.0


def test_ecl_negatives_are_the_other_frames_of_both_views():
    # With 4 selected frames per view, each anchor has 1 positive and 6 negatives (2N - 2).
    z1, z2 = torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)
    loss, _ = nt_xent(z1, z2)
    assert loss.item() == pytest.approx(math.log(7), rel=1e-6)  # uniform over 7 candidates


def test_nt_xent_shape_mismatch():
    with pytest.raises(ValueError, match="different shapes"):
        nt_xent(torch.zeros(2, 3), torch.zeros(3, 3))
