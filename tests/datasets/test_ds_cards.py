"""Dataset cards: present, installed with the package, and their split-file checksums are right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import eventar.datasets
from eventar.datasets._lists import sha256_of

CARDS = Path(eventar.datasets.__file__).parent / "cards"
SPLIT_FILES = {
    "dvsgesture.md": {"trials_to_train.txt": "dvs128_gesture/trials_to_train.txt", "trials_to_test.txt": "dvs128_gesture/trials_to_test.txt",
                      "gesture_mapping.csv": "dvs128_gesture/gesture_mapping.csv"},
    "hardvs.md": {"train_label.txt": "hardvs/train_label.txt", "val_label.txt": "hardvs/val_label.txt", "test_label.txt": "hardvs/test_label.txt",
                  "HARDVS_300_class.txt": "hardvs/HARDVS_300_class.txt",
                  "HARDVS_sampled_val_6_3_1.txt": "hardvs/exact_6_3_1/HARDVS_sampled_val_6_3_1.txt"},
    "dailydvs200.md": {"train.txt": "dailydvs200/train.txt", "val.txt": "dailydvs200/val.txt", "test.txt": "dailydvs200/test.txt",
                       "action_description.csv": "dailydvs200/action_description.csv"},
}


def _card_hashes(card: Path) -> dict:
    return {m.group(2): m.group(1) for m in re.finditer(r"^([0-9a-f]{64})\s+(\S+)", card.read_text(), re.M)}


@pytest.mark.parametrize("card", sorted(SPLIT_FILES))
def test_card_checksums_match_the_split_files(card, splits_dir):
    hashes = _card_hashes(CARDS / card)
    assert set(hashes) == set(SPLIT_FILES[card])
    for name, rel in SPLIT_FILES[card].items():
        assert sha256_of(splits_dir / rel) == hashes[name], f"{card}: sha256 of {name} is wrong"


def test_every_card_says_where_to_get_the_data():
    for card in list(SPLIT_FILES) + ["synthetic_gestures.md"]:
        text = (CARDS / card).read_text()
        assert "Where to get it" in text and "## Layout" in text, card
