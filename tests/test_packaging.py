"""The package layout: every folder with an __init__.py is listed in pyproject, imports stay light."""

import subprocess
import sys
import tomllib

from conftest import REPO_ROOT


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for top, name in (("eventar", "eventar"), ("datasets", "eventar.datasets"), ("kernels", "eventar.kernels")):
        for init in (REPO_ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO_ROOT / top).parts
            found.add(".".join((name,) + rel))
    assert found - listed == set(), f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_import_eventar_does_not_import_heavy_or_optional_packages():
    code = (
        "import sys, eventar, eventar.io, eventar.events;"
        "bad = [m for m in ('torch', 'mamba_ssm', 'causal_conv1d', 'numba_cuda', 'matplotlib', 'torchvision') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"`import eventar` pulled in {out}"


def test_mapped_packages_import_from_anywhere(tmp_path):
    code = "import eventar.datasets, eventar.kernels; print(eventar.datasets.__name__, eventar.kernels.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["eventar.datasets", "eventar.kernels"]


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "eventar", "--help"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert "COMMAND" in out.stdout
