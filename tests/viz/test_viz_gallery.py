"""The committed gallery is what docs/make_gallery.py draws from the current code."""

import importlib.util

from conftest import REPO_ROOT
from eventar.viz import image_size


def test_gallery_regenerates_with_the_same_pictures(tmp_path, real_dir):
    spec = importlib.util.spec_from_file_location("make_gallery", REPO_ROOT / "docs" / "make_gallery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(mod.DEFAULT), "-o", str(tmp_path)]) == 0
    committed = REPO_ROOT / "docs" / "gallery"
    names = sorted(p.name for p in committed.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        if name.endswith((".png", ".gif")):
            assert image_size(committed / name) == image_size(tmp_path / name), name
    assert (committed / "README.md").read_text() == (tmp_path / "README.md").read_text()
