"""Evaluation counts: per-window accuracy, top-k, majority vote per recording, confusion files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eventar.train.distributed import World
from eventar.train.metrics import Evaluation, save_confusion


def test_hand_computed_window_recording_and_topk_accuracy():
    # 3 classes, 3 recordings with labels 0, 1, 2
    ev = Evaluation(3, [0, 1, 2], top_k=2)
    scores = torch.tensor(
        [
            [3.0, 1.0, 0.0],  # rec 0, true 0, pred 0
            [0.0, 2.0, 1.0],  # rec 0, true 0, pred 1 (top-2 misses 0)
            [2.0, 0.0, 1.0],  # rec 0, true 0, pred 0  -> rec 0 votes 0:2, 1:1 -> 0 (right)
            [1.0, 0.0, 2.0],  # rec 1, true 1, pred 2 (top-2 = {2, 0}: miss)
            [0.0, 3.0, 1.0],  # rec 1, true 1, pred 1 -> votes tie 1:1 vs 2:1; tie broken by scores
            [0.0, 1.0, 2.0],  # rec 2, true 2, pred 2 (right)
        ]
    )
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    rec = torch.tensor([0, 0, 0, 1, 1, 2])
    ev.update(scores[:4], target[:4], rec[:4], loss_sum=4.0)
    ev.update(scores[4:], target[4:], rec[4:], loss_sum=2.0)
    s = ev.summary()
    assert s["acc"] == pytest.approx(4 / 6)
    assert s["acc_top2"] == pytest.approx(4 / 6)  # windows 1 and 3 miss in top-2 as well
    assert s["loss"] == pytest.approx(1.0)
    # rec 1: softmax([0,3,1])[1] = 0.84 beats softmax([1,0,2])[2] = 0.67 -> class 1 (right)
    assert ev.recording_predictions().tolist() == [0, 1, 2]
    assert s["acc_recording"] == pytest.approx(1.0)
    assert s["n_windows"] == 6 and s["n_recordings"] == 3
    expected = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(ev.confusion.numpy(), expected)


def test_recordings_without_windows_are_not_counted():
    ev = Evaluation(2, [0, 1, 1])
    ev.update(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]), torch.tensor([0, 2]))
    assert ev.recording_predictions().tolist() == [0, -1, 1]
    assert ev.summary()["n_recordings"] == 2 and ev.summary()["acc_recording"] == 1.0
    assert ev.top_k == 2  # clipped to the number of classes


def test_reduce_on_one_process_is_identity():
    ev = Evaluation(2, [0, 1])
    ev.update(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    before = ev.summary()
    assert ev.reduce(World()).summary() == before


def test_confusion_files(tmp_path):
    counts = torch.tensor([[3.0, 1.0], [0.0, 4.0]])
    save_confusion(counts, ["a", "b"], tmp_path)
    data = json.loads((tmp_path / "confusion.json").read_text())
    assert data["classes"] == ["a", "b"] and data["counts"] == [[3, 1], [0, 4]] and data["rows"] == "true"
    png = (tmp_path / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*partial*"))  # no temporary file left behind
