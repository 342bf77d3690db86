"""Two CPU processes under DDP (gloo, file:// rendezvous) against one process on the joint batch."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
import torch.multiprocessing as mp

import _train_tiny as tiny

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]


def _worker(rank: int, world_size: int, rendezvous: str, tmp: str, result_dir: str, test_dir: str) -> None:
    sys.path.insert(0, test_dir)
    import builtins
    from pathlib import Path

    import _train_tiny as tiny_child

    from eventar.train import distributed, engine

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    tiny_child.install()
    written = []
    # audit on both ranks: every file opened for writing, created or renamed under tmp/runs
    runs = str(Path(tmp) / "runs")
    import io
    import tempfile

    real = {"open": builtins.open, "replace": os.replace, "mkstemp": tempfile.mkstemp, "save": torch.save}

    def spy_open(file, mode="r", *a, **kw):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and str(file).startswith(runs):
            written.append(str(file))
        return real["open"](file, mode, *a, **kw)

    def spy_replace(src, dst, *a, **kw):
        if str(dst).startswith(runs):
            written.append(str(dst))
        return real["replace"](src, dst, *a, **kw)

    def spy_mkstemp(*a, **kw):
        fd, name = real["mkstemp"](*a, **kw)
        if name.startswith(runs):
            written.append(name)
        return fd, name

    builtins.open = io.open = spy_open
    os.replace, tempfile.mkstemp = spy_replace, spy_mkstemp
    world = distributed.setup(device="cpu", init_method=rendezvous, timeout_s=60)
    try:
        res = engine.train(None, tiny_child.overrides(Path(tmp), name="ddp", **{"model.args": "{dropout: 0.0}"}),
                           out=Path(tmp) / "runs", world=world, log=lambda s: None)
        params = {k: v.detach().clone() for k, v in res.pop("model").state_dict().items()}
    finally:
        distributed.teardown(world)
    builtins.open = io.open = real["open"]
    os.replace, tempfile.mkstemp = real["replace"], real["mkstemp"]
    torch.save({"result": res, "written": written, "params": params}, os.path.join(result_dir, f"rank{rank}.pt"))


def test_ddp_two_processes_match_one_process_on_the_joint_batch(tmp_path):
    result_dir = tmp_path / "results"
    result_dir.mkdir()
    rendezvous = f"file://{tmp_path / 'rendezvous'}"
    test_dir = os.path.dirname(os.path.abspath(__file__))
    mp.start_processes(_worker, args=(2, rendezvous, str(tmp_path), str(result_dir), test_dir), nprocs=2,
                       join=True, start_method="spawn")
    r0 = torch.load(result_dir / "rank0.pt", weights_only=False)
    r1 = torch.load(result_dir / "rank1.pt", weights_only=False)

    # parameters identical on both ranks after training
    assert r0["params"].keys() == r1["params"].keys()
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    # only rank 0 wrote into the run folder; both agree on the all-reduced metrics
    assert any(w.endswith("last.safetensors") for w in r0["written"])  # the audit sees writes
    assert r1["written"] == []
    assert r0["result"]["test_acc"] == r1["result"]["test_acc"]
    run = tmp_path / "runs" / "ddp"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    conf = json.loads((run / "confusion.json").read_text())
    assert sum(map(sum, conf["counts"])) == 2 * 3 * 8  # every test window counted once over both ranks

    # one process, batch = the two ranks' batches together, same seed: the same weights
    tiny.install()
    try:
        from eventar.train import train

        single = train(None, tiny.overrides(tmp_path, name="single", **{"model.args": "{dropout: 0.0}", "train.batch_size": 8}),
                       out=tmp_path / "runs", log=lambda s: None)
    finally:
        tiny.uninstall()
    w_single = tiny.read_weights(tmp_path / "runs" / "single" / "last.safetensors")
    w_ddp = tiny.read_weights(run / "last.safetensors")
    for k in w_single:
        torch.testing.assert_close(w_ddp[k], w_single[k], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(r0["params"][k], w_single[k], rtol=1e-5, atol=1e-6)
    assert single["test_acc"] == pytest.approx(r0["result"]["test_acc"])
