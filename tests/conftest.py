"""Shared fixtures: where the real recordings and split lists live, and skips when absent.

``../shared`` beside the checkout holds third-party data that is never copied into the repository;
``EVENTAR_SHARED`` overrides the location.  Tests that need it skip cleanly without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVENTAR_SHARED", REPO_ROOT.parent / "shared"))
REAL_DIR = SHARED / "data" / "real"
SPLITS_DIR = SHARED / "data" / "splits"


def pytest_collection_modifyitems(config, items):
    slow_ok = os.environ.get("EVENTAR_SLOW") == "1"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover
        has_cuda = False
    for item in items:
        if "slow" in item.keywords and not slow_ok:
            item.add_marker(pytest.mark.skip(reason="slow test: set EVENTAR_SLOW=1 to run"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (none available)"))


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """Folder of real recordings (../shared/data/real); skips the test when absent."""
    if not (REAL_DIR / "EXPECTED.json").is_file():
        pytest.skip(f"real recordings not present at {REAL_DIR}")
    return REAL_DIR


@pytest.fixture(scope="session")
def expected(real_dir) -> dict:
    """EXPECTED.json's ``files`` mapping: relative path -> expected readings."""
    return json.loads((real_dir / "EXPECTED.json").read_text())["files"]


@pytest.fixture(scope="session")
def splits_dir() -> Path:
    """Folder of official split lists (../shared/data/splits); skips when absent."""
    if not SPLITS_DIR.is_dir():
        pytest.skip(f"split lists not present at {SPLITS_DIR}")
    return SPLITS_DIR
