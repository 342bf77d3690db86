"""`make bench` (benchmarks/run_all.py) runs every benchmark script with options the scripts accept."""

import importlib.util
import re
import sys

import pytest

from conftest import REPO_ROOT

BENCH_DIR = REPO_ROOT / "benchmarks"


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", BENCH_DIR / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("run_all", None)


def _declared_options(script):
    return set(re.findall(r'add_argument\(\s*"(--[A-Za-z0-9-]+)"', (BENCH_DIR / script).read_text()))


def test_every_benchmark_script_is_run(run_all):
    listed = {b.script for b in run_all.BENCHMARKS}
    on_disk = {p.name for p in BENCH_DIR.glob("bench_*.py")} | {"cuda_resources.py"}
    assert on_disk - listed == set(), f"benchmarks that `make bench` never runs: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), f"run_all.py lists missing scripts: {sorted(listed - on_disk)}"


def test_every_option_passed_is_declared_by_its_script(run_all):
    for bench in run_all.BENCHMARKS:
        declared = _declared_options(bench.script)
        assert "--write" in declared, f"{bench.script} cannot update RESULTS.md with --write"
        passed = {a for a in bench.full + bench.quick if a.startswith("--")}
        assert passed <= declared, f"{bench.script} does not accept {sorted(passed - declared)}"


def test_no_benchmark_writes_results_unless_asked():
    # One convention: print only by default, --write updates RESULTS.md.
    for path in BENCH_DIR.glob("*.py"):
        assert "--no-write" not in path.read_text(), f"{path.name} still uses --no-write"


def test_write_is_added_to_recorded_runs_only(run_all):
    bench = next(b for b in run_all.BENCHMARKS if b.name == "representations")
    full = run_all.command(bench, write=True, python="py")
    assert full[0] == "py" and full[1].endswith("bench_representations.py") and full[-1] == "--write"
    assert "--write" not in run_all.command(bench, quick=True, write=True, python="py")
    assert "--write" not in run_all.command(bench, python="py")


def test_quick_and_write_together_are_refused(run_all, capsys):
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--quick", "--write"])
    assert exc.value.code == 2
    assert "--quick figures are not written" in capsys.readouterr().err


def test_dry_run_prints_every_chosen_command_and_runs_none(run_all, capsys):
    assert run_all.main(["--dry-run", "--only", "lif", "energy"]) == 0
    out = capsys.readouterr().out
    assert "python benchmarks/bench_lif.py --B 4 --repeats 7" in out
    assert "OMP_NUM_THREADS=1 python benchmarks/bench_energy.py" in out
    assert "bench_scan.py" not in out


def test_make_bench_runs_the_runner():
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = re.search(r"^bench:.*\n\t(.+)$", makefile, flags=re.M).group(1)
    script = re.search(r"benchmarks/\S+\.py", recipe).group(0)
    assert (REPO_ROOT / script).is_file(), f"`make bench` runs {script}, which does not exist"
