"""The training loop and evaluation, in the order they run.

One process::

    eventar train --config experiments/spikepoint_synthetic.yaml train.epochs=5

Several processes on one machine (DDP; the same code, rank 0 logs and writes)::

    torchrun --standalone --nproc_per_node 2 -m eventar train --config experiments/spikepoint_synthetic.yaml

A run writes ``runs/<name>/``: ``config.yaml`` (resolved), ``env.json``, ``metrics.jsonl`` (one
line per epoch), ``last.safetensors`` + ``last_state.pt`` (optimizer, scheduler, RNG, position),
``best.safetensors``, ``confusion.json`` / ``.png`` and, when :mod:`eventar.energy` is available,
``energy.json`` / ``.md`` / ``.png``.  ``--resume RUN_DIR`` continues from ``last`` exactly: the
batch order of an epoch depends only on (seed, epoch) and the random stream of every step only on
(seed, rank, step), so a resumed run ends with the same weights as an uninterrupted one (CPU).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..io.atomic import atomic_output
from . import checkpoint as ckpt
from .config import load_config, save_config
from .data import SampleDataset, SampleSet, epoch_batches, load_or_prepare, loader
from .distributed import World, all_reduce_sum, barrier, setup, shard_indices, teardown
from .inputs import InputSpec, build_input
from .metrics import Evaluation, save_confusion

# --- small helpers (read these once, the loop below uses them) ------------------------------------


def step_seed(seed: int, rank: int, global_step: int) -> int:
    """The torch seed of optimizer step ``global_step`` on ``rank``: the model's own randomness
    (rate coding, dropout) depends only on these three numbers, which makes resuming exact."""
    return ((int(seed) * 1_000_003 + int(global_step)) * 64 + int(rank)) % (2**63 - 1)


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based): linear warm-up from
    1/warmup to 1 over ``warmup_steps``, then cosine decay from 1 to ``min_ratio`` at the end."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def compute_loss(name: str, output: Any, target: torch.Tensor, spec: InputSpec, num_classes: int, label_smoothing: float = 0.0) -> torch.Tensor:
    """The configured loss (a scalar, mean over the batch).

    ``cross_entropy``: on the class scores (B, C) (a (T, B, C) output is averaged over T first).
    ``mse_onehot``: SpikePoint's loss, mean over steps and classes of (Y_t,c - onehot_c)^2, on the
    output (T, B, C) or (B, C) (voted firing rates in [0, 1]).
    """
    if spec.loss is not None:
        return spec.loss(output, target)
    if name == "cross_entropy":
        return F.cross_entropy(spec.scores(output).float(), target, label_smoothing=label_smoothing)
    if name == "mse_onehot":
        onehot = F.one_hot(target, num_classes).to(torch.float32)
        return F.mse_loss(output.float(), onehot.expand_as(output), reduction="mean")
    raise ConfigError(f"unknown loss '{name}'")


def build_model(cfg: Dict[str, Any], num_classes: int) -> nn.Module:
    """``eventar.create_model(model.name, **model.args)``; ``num_classes`` is passed unless the
    args set it (a mismatch with the dataset is an error)."""
    from ..models import create_model

    args = dict(cfg["model"]["args"])
    given = args.setdefault("num_classes", num_classes)
    if given != num_classes:
        raise ConfigError(f"model.args.num_classes={given} but the dataset has {num_classes} classes")
    return create_model(cfg["model"]["name"], **args)


def build_optimizer(cfg: Dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over every trainable parameter (config ``train.*``)."""
    t = cfg["train"]
    params = [p for p in model.parameters() if p.requires_grad]
    if t["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=t["lr"], weight_decay=t["weight_decay"])
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=t["lr"], weight_decay=t["weight_decay"])
    return torch.optim.SGD(params, lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])


def environment(world: World) -> Dict[str, Any]:
    """Versions and machine, for ``env.json``."""
    import subprocess

    from .. import __version__

    env = {
        "eventar": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": world.size,
        "device": str(world.device),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(world.device) if world.device.type == "cuda" else None,
        "hostname": platform.node(),
        "argv": sys.argv,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with contextlib.suppress(Exception):
        env["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        ).stdout.strip() or None
    return env


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in numba's parallel kernels (the neuron loop).

    On a busy machine one thread each is often many times faster than two: parallel regions whose
    threads get descheduled wait for the slowest one."""
    torch.set_num_threads(n)
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def say(line: str) -> None:
    """Print a progress line now (flushed: logs of runs piped to a file stay current)."""
    print(line, flush=True)


def _write_json(path: Path, obj: Any) -> None:
    with atomic_output(path, force=True, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1, default=str))


def _progress(iterable, total: int, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _show_progress(cfg: Dict[str, Any], world: World) -> bool:
    mode = cfg["train"]["progress"]
    return world.is_main and (mode == "always" or (mode == "auto" and sys.stderr.isatty()))


def _autocast(cfg: Dict[str, Any], world: World):
    """(context manager factory, GradScaler or None): bf16/fp16 autocast on CUDA, nothing on CPU."""
    if world.device.type != "cuda" or not cfg["train"]["amp"]:
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    return x.to(device, non_blocking=True)


# --- evaluation ----------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: nn.Module, samples: SampleSet, spec: InputSpec, cfg: Dict[str, Any], world: World, seed: int = 0) -> Evaluation:
    """Classify every sample of ``samples`` (sharded over processes, counts all-reduced).

    Returns:
        An :class:`Evaluation` (same on every rank): per-window and majority-vote accuracy, top-k,
        confusion matrix.  The model's own randomness is seeded by ``seed`` (and the rank).
    """
    # The bare module, not the DDP wrapper: ranks may run different numbers of batches here, and a
    # DDP forward could start a buffer broadcast the other ranks never join.  Weights and buffers
    # are identical on every rank after each training step.
    model = ckpt.unwrap(model)
    model.eval()
    torch.manual_seed(step_seed(seed, world.rank, -1))
    ev = Evaluation(samples.num_classes, samples.rec_labels, top_k=cfg["eval"]["top_k"])
    idx = shard_indices(len(samples), world)
    bs = cfg["train"]["eval_batch_size"]
    batches = [idx[i:i + bs] for i in range(0, len(idx), bs)]
    autocast, _ = _autocast(cfg, world)
    for x, y, rec in loader(SampleDataset(samples), batches, spec.collate, cfg["data"]["num_workers"]):
        x, y = _to(x, world.device), y.to(world.device)
        with autocast():
            out = spec.forward(model, x)
        loss = compute_loss(cfg["train"]["loss"], out, y, spec, samples.num_classes, 0.0)
        ev.update(spec.scores(out), y, rec, float(loss) * len(y))
    return ev.reduce(world)


# --- training ------------------------------------------------------------------------------------


def _new_run_dir(cfg: Dict[str, Any], out: Path, stem: str, world: World) -> Path:
    name = cfg["name"] or f"{stem}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
    run_dir = out / name
    if world.is_main:
        k = 1
        while run_dir.exists():  # never overwrite a previous run
            k += 1
            run_dir = out / f"{name}-{k}"
        run_dir.mkdir(parents=True)
    if world.distributed:  # every rank must agree on the folder rank 0 picked
        import torch.distributed as dist

        box = [str(run_dir)]
        dist.broadcast_object_list(box, src=0)
        run_dir = Path(box[0])
    return run_dir


def train(
    config: Optional[str] = None,
    overrides: List[str] = (),
    out: str = "runs",
    resume: Optional[str] = None,
    world: Optional[World] = None,
    on_step: Optional[Callable[[int], None]] = None,
    log: Callable[[str], None] = say,
) -> Dict[str, Any]:
    """Train from an experiment YAML (or resume a run folder); returns the final metrics.

    Args:
        config: experiment YAML path (ignored with ``resume``: the run's own config.yaml is used).
        overrides: dotted ``key.sub=value`` strings applied on top.
        out: parent folder of new run folders.
        resume: a run folder to continue from its ``last`` checkpoint.
        world: process placement; None reads the torchrun environment (:func:`distributed.setup`).
        on_step: called with the global step after every optimizer step (tests use it to
            interrupt a run).
        log: where rank 0's progress lines go.
    Returns:
        ``{"run_dir", "epoch", "test_acc", "test_acc_recording", "best_test_acc", ..., "model"}``
        (the last epoch's metrics line plus the trained module, unwrapped from DDP).
    Raises:
        ConfigError, DatasetError, CheckpointError: bad config, data or checkpoint.
    """
    own_world = world is None
    world = world or setup()
    try:
        return _train(config, list(overrides), Path(out), resume, world, on_step, log if world.is_main else (lambda s: None))
    finally:
        if own_world:
            teardown(world)


def _train(config, overrides, out, resume, world: World, on_step, log) -> Dict[str, Any]:
    # 1. configuration and run folder -----------------------------------------------------------
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise CheckpointError(f"{run_dir}: not a run folder (no config.yaml)")
        cfg = load_config(run_dir / "config.yaml", overrides)
    else:
        cfg = load_config(config, overrides)
        run_dir = _new_run_dir(cfg, out, Path(config).stem if config else "run", world)
    t_cfg = cfg["train"]
    seed = cfg["seed"]
    if t_cfg["threads"] > 0:
        set_threads(t_cfg["threads"])
    if t_cfg["deterministic"]:
        torch.use_deterministic_algorithms(True)
    if world.is_main:
        save_config(cfg, run_dir / "config.yaml")
        _write_json(run_dir / "env.json", environment(world))

    # 2. data: rank 0 prepares (and caches) the samples, the others read the cache ----------------
    spec = build_input(cfg["input"]["name"], **cfg["input"]["args"])
    t0 = time.perf_counter()
    if world.is_main:
        train_set = load_or_prepare(cfg, cfg["data"]["train_split"], spec)
        test_set = load_or_prepare(cfg, cfg["data"]["test_split"], spec)
    barrier(world)
    if not world.is_main:
        train_set = load_or_prepare(cfg, cfg["data"]["train_split"], spec, write=False)
        test_set = load_or_prepare(cfg, cfg["data"]["test_split"], spec, write=False)
    log(
        f"data: {cfg['data']['dataset']} train {len(train_set)} samples from {len(train_set.rec_labels)} recordings, "
        f"test {len(test_set)} from {len(test_set.rec_labels)}; {train_set.num_classes} classes; "
        f"input '{cfg['input']['name']}' {tuple(train_set.x.shape[1:])} ({time.perf_counter() - t0:.1f} s)"
    )
    train_ds = SampleDataset(train_set, spec.augment, seed)

    # 3. model, optimizer, schedule (same initial weights on every rank) -------------------------
    torch.manual_seed(seed)
    model = build_model(cfg, train_set.num_classes).to(world.device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {cfg['model']['name']} ({n_params / 1e6:.3f} M parameters) on {world.device} x {world.size}")
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = len(epoch_batches(len(train_set), t_cfg["batch_size"], 0, seed, world.rank, world.size))
    total_steps = steps_per_epoch * t_cfg["epochs"]
    warmup = int(round(t_cfg["warmup_epochs"] * steps_per_epoch))
    min_ratio = t_cfg["min_lr"] / t_cfg["lr"] if t_cfg["lr"] > 0 else 0.0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup, min_ratio))
    autocast, scaler = _autocast(cfg, world)

    # 4. resume: weights, optimizer, schedule, RNG and position in the epoch ---------------------
    epoch, step_in_epoch, global_step, best = 0, 0, 0, -1.0
    sums = torch.zeros(3, dtype=torch.float64)  # this epoch so far: loss sum, correct, count
    if resume is not None:
        ckpt.load_weights(model, run_dir / "last.safetensors")
        state = ckpt.load_state(run_dir / "last_state.pt")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        epoch, step_in_epoch, global_step = state["epoch"], state["step_in_epoch"], state["global_step"]
        best = state["best_test_acc"]
        sums = state["epoch_sums"].clone()
        if world.is_main:
            ckpt.set_rng_state(state["rng"])
        _truncate_metrics(run_dir / "metrics.jsonl", epoch, world)
        log(f"resumed {run_dir} at epoch {epoch + 1}, step {step_in_epoch}/{steps_per_epoch} (global {global_step})")
    log(f"run folder: {run_dir}")

    def save_last() -> None:
        if not world.is_main:
            return
        ckpt.save_weights(model, run_dir / "last.safetensors", {"epoch": str(epoch), "global_step": str(global_step)})
        ckpt.save_state(
            {
                "epoch": epoch,
                "step_in_epoch": step_in_epoch,
                "global_step": global_step,
                "best_test_acc": best,
                "epoch_sums": sums.clone(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "rng": ckpt.rng_state(),
            },
            run_dir / "last_state.pt",
        )

    # 5. the loop --------------------------------------------------------------------------------
    show = _show_progress(cfg, world)
    metrics: Dict[str, Any] = {}
    while epoch < t_cfg["epochs"]:
        t_epoch = time.perf_counter()
        model.train()
        train_ds.set_epoch(epoch)
        batches = epoch_batches(len(train_set), t_cfg["batch_size"], epoch, seed, world.rank, world.size)
        todo = batches[step_in_epoch:]
        it = loader(train_ds, todo, spec.collate, cfg["data"]["num_workers"])
        for x, y, _ in _progress(it, len(todo), show, f"epoch {epoch + 1}/{t_cfg['epochs']}"):
            torch.manual_seed(step_seed(seed, world.rank, global_step))
            x, y = _to(x, world.device), y.to(world.device)
            with autocast():
                out = spec.forward(model, x)
                loss = compute_loss(t_cfg["loss"], out, y, spec, train_set.num_classes, t_cfg["label_smoothing"])
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if t_cfg["grad_clip"] > 0:
                nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            with torch.no_grad():
                pred = spec.scores(out).argmax(dim=1)
                sums += torch.tensor([float(loss) * len(y), float((pred == y).sum()), float(len(y))], dtype=torch.float64)
            step_in_epoch += 1
            global_step += 1
            if t_cfg["ckpt_every_steps"] and global_step % t_cfg["ckpt_every_steps"] == 0 and step_in_epoch < len(batches):
                save_last()
            if on_step is not None:
                on_step(global_step)

        # end of epoch: train metrics over all processes, evaluation, checkpoints
        totals = all_reduce_sum(sums.clone().to(world.device), world).cpu()
        metrics = {
            "epoch": epoch + 1,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": float(totals[0] / totals[2]),
            "train_acc": float(totals[1] / totals[2]),
        }
        last_epoch = epoch + 1 == t_cfg["epochs"]
        ev = None
        if last_epoch or (epoch + 1) % t_cfg["eval_every"] == 0:
            ev = evaluate(model, test_set, spec, cfg, world, seed)
            s = ev.summary()
            metrics.update(test_loss=s["loss"], test_acc=s["acc"], test_acc_recording=s["acc_recording"],
                           **{f"test_acc_top{ev.top_k}": s[f"acc_top{ev.top_k}"]})
        metrics["time_s"] = round(time.perf_counter() - t_epoch, 3)
        improved = ev is not None and metrics["test_acc"] > best
        if improved:
            best = metrics["test_acc"]
        metrics["best_test_acc"] = best
        epoch, step_in_epoch = epoch + 1, 0
        sums.zero_()
        if world.is_main:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
            if improved:
                ckpt.save_weights(model, run_dir / "best.safetensors", {"epoch": str(epoch), "test_acc": f"{best:.6f}"})
            save_last()
            if last_epoch and ev is not None:
                save_confusion(ev.confusion, test_set.classes, run_dir)
        log(_epoch_line(metrics, t_cfg["epochs"]))
        barrier(world)

    # 6. summary and energy ----------------------------------------------------------------------
    if not metrics:  # resumed a run that had already finished
        metrics = _last_metrics(run_dir / "metrics.jsonl")
    result = {"run_dir": str(run_dir), **metrics, "best_test_acc": best, "model": ckpt.unwrap(model)}
    if "test_acc" in metrics:
        log(
            f"test accuracy {100 * metrics['test_acc']:.2f} % per window, "
            f"{100 * metrics['test_acc_recording']:.2f} % per recording (majority vote); best {100 * best:.2f} %"
        )
    if cfg["energy"]["enabled"] and world.is_main:
        report = energy_report(ckpt.unwrap(model), test_set, spec, cfg, world, run_dir)
        if report is not None:
            log(report.summary())
            result["energy_total_pj"] = float(report.total_pj)
    return result


def _epoch_line(m: Dict[str, Any], epochs: int) -> str:
    line = f"epoch {m['epoch']:>3}/{epochs}  lr {m['lr']:.2e}  loss {m['train_loss']:.4f}  train {100 * m['train_acc']:5.1f} %"
    if "test_acc" in m:
        line += f"  test {100 * m['test_acc']:5.1f} % (recording {100 * m['test_acc_recording']:5.1f} %)"
    return line + f"  {m['time_s']:.1f} s"


def _truncate_metrics(path: Path, epoch: int, world: World) -> None:
    """Drop metric lines of epochs >= ``epoch`` + 1 (written after the checkpoint being resumed)."""
    if not world.is_main or not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["epoch"] <= epoch]
    with atomic_output(path, force=True, suffix=".jsonl") as tmp:
        Path(tmp).write_text("".join(line + "\n" for line in keep))


def _last_metrics(path: Path) -> Dict[str, Any]:
    lines = [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def energy_report(model: nn.Module, samples: SampleSet, spec: InputSpec, cfg: Dict[str, Any], world: World, run_dir: Path):
    """Run :func:`eventar.energy.estimate_energy` on a few test batches and write
    ``energy.json`` / ``energy.md`` / ``energy.png``; returns the report (None when the energy
    package is not available in this install)."""
    try:
        from ..energy import estimate_energy
    except ImportError:
        return None
    bs = cfg["train"]["eval_batch_size"]
    n = min(len(samples), bs * cfg["energy"]["batches"])
    batches = [list(range(i, min(i + bs, n))) for i in range(0, n, bs)]
    xs = [_to(x, world.device) for x, _, _ in loader(SampleDataset(samples), batches, spec.collate)]
    model.eval()
    torch.manual_seed(step_seed(cfg["seed"], world.rank, -2))
    report = estimate_energy(model, xs, cost=cfg["energy"]["cost"], forward=spec.forward, model_name=cfg["model"]["name"])
    report.to_json(run_dir / "energy.json")
    with atomic_output(run_dir / "energy.md", force=True, suffix=".md") as tmp:
        Path(tmp).write_text(report.to_markdown())
    report.plot(run_dir / "energy.png")
    return report


# --- evaluation of a finished run ----------------------------------------------------------------


def evaluate_run(run_dir: str, split: str = "test", weights: str = "best", world: Optional[World] = None, log: Callable[[str], None] = say) -> Dict[str, Any]:
    """Evaluate a run folder's ``best`` (or ``last``) weights on ``split``; writes
    ``eval_<split>_<weights>.json`` and ``confusion_<split>_<weights>.json/.png``.

    Raises:
        CheckpointError: not a run folder or unreadable weights.
    """
    own_world = world is None
    world = world or setup()
    try:
        run = Path(run_dir)
        if not (run / "config.yaml").is_file():
            raise CheckpointError(f"{run}: not a run folder (no config.yaml)")
        cfg = load_config(run / "config.yaml")
        spec = build_input(cfg["input"]["name"], **cfg["input"]["args"])
        samples = load_or_prepare(cfg, split, spec, write=world.is_main)
        model = build_model(cfg, samples.num_classes).to(world.device)
        ckpt.load_weights(model, run / f"{weights}.safetensors")
        ev = evaluate(model, samples, spec, cfg, world, cfg["seed"])
        s = ev.summary()
        result = {"split": split, "weights": weights, **s}
        if world.is_main:
            _write_json(run / f"eval_{split}_{weights}.json", result)
            save_confusion(ev.confusion, samples.classes, run, stem=f"confusion_{split}_{weights}")
            log(
                f"{run} [{weights}] on {split}: {100 * s['acc']:.2f} % per window ({s['n_windows']} windows), "
                f"{100 * s['acc_recording']:.2f} % per recording ({s['n_recordings']}), "
                f"top-{ev.top_k} {100 * s[f'acc_top{ev.top_k}']:.2f} %"
            )
        return result
    finally:
        if own_world:
            teardown(world)
