"""Helpers for multi-process (distributed) training built on ``torch.distributed``.

Every function works without an initialized process group, where it behaves as if there were a
single process: rank 0, world size 1, ``all_gather(x) == [x]``.

Glossary: *world* = all processes of the job; *local* = the processes on the same machine
(one per GPU); the *local process group* is created by ``det.engine.launch``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "all_gather",
    "create_local_process_group",
    "gather",
    "get_local_process_group",
    "get_local_rank",
    "get_local_size",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "reduce_dict",
    "shared_random_seed",
    "synchronize",
]

_LOCAL_PROCESS_GROUP = None
_NO_LOCAL_GROUP = (
    "The local process group does not exist; start the job through det.engine.launch(), "
    "which creates it, or set LOCAL_RANK / LOCAL_WORLD_SIZE as torchrun does."
)
_LOCAL_WORLD_SIZE: int | None = None


def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Returns the number of processes in the job (1 when not distributed)."""
    return dist.get_world_size() if _is_dist() else 1


def get_rank() -> int:
    """Returns the global rank of this process (0 when not distributed)."""
    return dist.get_rank() if _is_dist() else 0


def create_local_process_group(num_workers_per_machine: int) -> None:
    """Creates the process group of the processes that run on this machine.

    Must be called by every process of the job, after ``init_process_group``, with the same
    argument everywhere (machines are assumed to run the same number of processes, with
    consecutive global ranks per machine).

    Args:
        num_workers_per_machine: processes per machine; must divide the world size.
    """
    global _LOCAL_PROCESS_GROUP, _LOCAL_WORLD_SIZE
    if _LOCAL_PROCESS_GROUP is not None:
        raise RuntimeError("The local process group was already created.")
    world_size = get_world_size()
    if world_size % num_workers_per_machine != 0:
        raise ValueError(
            f"World size {world_size} is not a multiple of the {num_workers_per_machine} "
            "processes per machine; every machine must run the same number of processes."
        )
    rank = get_rank()
    for machine in range(world_size // num_workers_per_machine):
        ranks = list(
            range(machine * num_workers_per_machine, (machine + 1) * num_workers_per_machine)
        )
        # new_group is collective: every process creates every machine's group.
        group = dist.new_group(ranks)
        if rank in ranks:
            _LOCAL_PROCESS_GROUP = group
    _LOCAL_WORLD_SIZE = num_workers_per_machine


def get_local_process_group():
    """Returns the process group of this machine's processes (``None`` if not created)."""
    return _LOCAL_PROCESS_GROUP


def get_local_rank() -> int:
    """Returns the rank of this process among the processes of its machine (0 if not distributed).

    This is the index of the GPU the process should use.
    """
    if not _is_dist():
        return 0
    if _LOCAL_PROCESS_GROUP is None:
        # A process group set up by other code (not det.engine.launch): trust torchrun's env.
        if "LOCAL_RANK" in os.environ:
            return int(os.environ["LOCAL_RANK"])
        raise RuntimeError(_NO_LOCAL_GROUP)
    return dist.get_rank(group=_LOCAL_PROCESS_GROUP)


def get_local_size() -> int:
    """Returns the number of processes on this machine (1 if not distributed)."""
    if not _is_dist():
        return 1
    if _LOCAL_WORLD_SIZE is None:
        if "LOCAL_WORLD_SIZE" in os.environ:
            return int(os.environ["LOCAL_WORLD_SIZE"])
        raise RuntimeError(_NO_LOCAL_GROUP)
    return _LOCAL_WORLD_SIZE


def is_main_process() -> bool:
    """Returns whether this is the global rank 0 process (the one that writes files)."""
    return get_rank() == 0


def synchronize() -> None:
    """Waits until every process reaches this point (a barrier); no-op for one process."""
    if get_world_size() == 1:
        return
    if dist.get_backend() == dist.Backend.NCCL:
        # Naming the device avoids NCCL guessing (and warning about) the barrier's GPU.
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


@functools.lru_cache
def _get_global_gloo_group():
    """A gloo group over all ranks, so that object gathers never occupy GPU memory."""
    if dist.get_backend() == dist.Backend.NCCL:
        return dist.new_group(backend="gloo")
    return dist.group.WORLD


def all_gather(data: Any, group=None) -> list[Any]:
    """Gathers any picklable object from every process.

    Args:
        data: any picklable object.
        group: a process group (default: a gloo group over all processes).

    Returns:
        list: ``data`` from each rank of the group, ordered by rank.
    """
    if get_world_size() == 1:
        return [data]
    if group is None:
        group = _get_global_gloo_group()
    if dist.get_world_size(group) == 1:
        return [data]
    output: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(output, data, group=group)
    return output


def gather(data: Any, dst: int = 0, group=None) -> list[Any]:
    """Gathers any picklable object on rank ``dst``.

    Args:
        data: any picklable object.
        dst: global rank that receives the data.
        group: a process group (default: a gloo group over all processes).

    Returns:
        list: on rank ``dst``, ``data`` from each rank ordered by rank; elsewhere an empty list.
    """
    if get_world_size() == 1:
        return [data]
    if group is None:
        group = _get_global_gloo_group()
    world_size = dist.get_world_size(group=group)
    if world_size == 1:
        return [data]
    if dist.get_rank() == dst:
        output: list[Any] = [None] * world_size
        dist.gather_object(data, output, dst=dst, group=group)
        return output
    dist.gather_object(data, None, dst=dst, group=group)
    return []


def shared_random_seed() -> int:
    """Returns a random integer in [0, 2**31) that is the same on every process.

    Rank 0 draws it; all ranks must call this function.
    """
    seed = np.random.randint(2**31)
    return all_gather(seed)[0]


def reduce_dict(input_dict: dict[str, torch.Tensor], average: bool = True) -> dict:
    """Reduces scalar tensors over all processes; only rank 0 receives the result.

    Args:
        input_dict: name -> scalar Tensor[] (same keys on every rank).
        average: average instead of sum.

    Returns:
        dict: the same keys with the reduced tensors (meaningful on rank 0 only).
    """
    world_size = get_world_size()
    if world_size < 2:
        return input_dict
    with torch.no_grad():
        names = sorted(input_dict.keys())
        values = torch.stack([input_dict[k] for k in names], dim=0)
        dist.reduce(values, dst=0)
        if dist.get_rank() == 0 and average:
            values /= world_size
        return dict(zip(names, values))
