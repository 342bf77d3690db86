"""One code path for one process and for ``torchrun``: world info, sharding, all-reduce.

Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) :func:`setup`
initialises the default process group (NCCL on CUDA, gloo on CPU) and the model is wrapped in
``DistributedDataParallel``; otherwise everything below degenerates to no-ops on a single process.
Only rank 0 logs and writes files (``World.is_main``).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process sits: ``rank`` of ``size`` processes, on ``device``."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group of more than one process is running."""
        return self.size > 1


def setup(device: Optional[str] = None, init_method: Optional[str] = None, timeout_s: float = 600.0) -> World:
    """Read the torchrun environment and, when ``WORLD_SIZE > 1``, start the process group.

    Args:
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).  Each rank uses
            ``cuda:LOCAL_RANK``.
        init_method: rendezvous URL (e.g. ``file:///tmp/x``); None uses torchrun's ``env://``.
        timeout_s: collective timeout in seconds.
    Returns:
        The :class:`World` of this process.
    """
    rank = int(os.environ.get("RANK", 0))
    size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            init_method=init_method or "env://",
            rank=rank,
            world_size=size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return World(rank=rank, size=size, local_rank=local_rank, device=dev)


def teardown(world: World) -> None:
    """Destroy the process group started by :func:`setup` (no-op on one process)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """Sum ``t`` (any shape; counts or float sums) over all processes, in place; returns it."""
    if world.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(world: World) -> None:
    """Wait for every process (no-op on one process)."""
    if world.distributed:
        dist.barrier()


def shard_indices(n: int, world: World) -> list:
    """Indices ``rank, rank + size, ...`` of ``range(n)``: a split of an evaluation set with no
    padding and no duplicates (unlike ``DistributedSampler``), so all-reduced counts are exact."""
    return list(range(world.rank, n, world.size))
