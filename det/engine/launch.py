"""Starting one training process per GPU, on one or many machines.

Three ways to run ``main_func`` with ``torch.distributed``:

* ``--num-gpus N [--num-machines M --machine-rank R --dist-url tcp://host:port]``: this
  function spawns N processes per machine (gloo on CPU-only machines, NCCL with CUDA);
* ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): every
  process is already started, so nothing is spawned and the process group is set up from the
  environment;
* ``srun`` (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_NODELIST, ...): likewise
  one process per task; the first node of the step is the master.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from det.utils import comm
from det.utils.errors import UserError

__all__ = ["DEFAULT_TIMEOUT", "default_dist_url", "launch"]

DEFAULT_TIMEOUT = timedelta(minutes=30)

logger = logging.getLogger(__name__)


def default_dist_url() -> str:
    """Returns ``tcp://127.0.0.1:<port>`` with a port derived from the user id (49152 for uid 0),
    so that different users of one machine do not collide (detectron2's convention)."""
    uid = os.getuid() if sys.platform != "win32" else 1
    port = 2**15 + 2**14 + hash(uid) % 2**14
    return f"tcp://127.0.0.1:{port}"


def _find_free_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("", 0))
    port = sock.getsockname()[1]
    sock.close()
    # The port may be taken again before the process group binds it; rare enough locally.
    return port


@dataclass
class _ExternalLaunch:
    """Rank layout given by an external launcher (torchrun or srun)."""

    source: str
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int


def launch(
    main_func: Callable,
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> None:
    """Runs ``main_func(*args)`` in every process of a (possibly) distributed job.

    Args:
        main_func: the function to run; with spawning it must be picklable (a module-level
            function).
        num_gpus_per_machine: processes per machine (one per GPU; on CPU-only machines, that
            many gloo processes).
        num_machines: number of machines.
        machine_rank: rank of this machine, 0 .. num_machines - 1.
        dist_url: ``tcp://<machine 0 address>:<port>``; ``"auto"`` picks a free local port
            (single machine only); ``None`` means ``"auto"`` on one machine.
        args: positional arguments of ``main_func``.
        timeout: timeout of collective operations (long evaluations on rank 0 need a long one).

    Raises:
        UserError: inconsistent arguments (e.g. ``auto`` with several machines, more
            processes than GPUs).
    """
    world_size = num_machines * num_gpus_per_machine
    external = _external_launch(world_size, dist_url)
    if external is not None:
        logger.info(
            f"Started by {external.source}: rank {external.rank} of {external.world_size}, "
            f"master {external.master_addr}:{external.master_port}."
        )
        _init_and_run(
            main_func,
            args,
            backend=_backend(),
            init_method=_tcp_url(external.master_addr, external.master_port),
            world_size=external.world_size,
            rank=external.rank,
            local_rank=external.local_rank,
            local_world_size=external.local_world_size,
            timeout=timeout,
        )
        return
    if world_size <= 1:
        main_func(*args)
        return
    if not 0 <= machine_rank < num_machines:
        raise UserError(f"--machine-rank must be in [0, {num_machines}); got {machine_rank}.")
    if dist_url is None or dist_url == "auto":
        if num_machines != 1:
            raise UserError(
                "--dist-url auto only works on a single machine; with --num-machines "
                f"{num_machines} give the address of machine 0, e.g. "
                "--dist-url tcp://$MASTER_ADDR:60900."
            )
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// init with several machines needs a file system shared by all.")
    if torch.cuda.is_available() and num_gpus_per_machine > torch.cuda.device_count():
        raise UserError(
            f"--num-gpus {num_gpus_per_machine} but only {torch.cuda.device_count()} GPUs are "
            "visible (check CUDA_VISIBLE_DEVICES)."
        )
    mp.start_processes(
        _distributed_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
        start_method="spawn",
    )


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def _tcp_url(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


def _distributed_worker(
    local_rank: int,
    main_func: Callable,
    world_size: int,
    num_gpus_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple,
    timeout: timedelta,
) -> None:
    _init_and_run(
        main_func,
        args,
        backend=_backend(),
        init_method=dist_url,
        world_size=world_size,
        rank=machine_rank * num_gpus_per_machine + local_rank,
        local_rank=local_rank,
        local_world_size=num_gpus_per_machine,
        timeout=timeout,
    )


def _init_and_run(
    main_func: Callable,
    args: tuple,
    *,
    backend: str,
    init_method: str,
    world_size: int,
    rank: int,
    local_rank: int,
    local_world_size: int,
    timeout: timedelta,
) -> None:
    if backend == "nccl":
        # Before init, so that NCCL binds this process to its own GPU.
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(
            backend=backend,
            init_method=init_method,
            world_size=world_size,
            rank=rank,
            timeout=timeout,
        )
    except Exception as e:
        raise RuntimeError(
            f"Process {rank}/{world_size} could not join the process group at {init_method} "
            f"({backend}): {e}. Check that the address is reachable from every machine and "
            "the port is free (for NCCL over a specific interface, set NCCL_SOCKET_IFNAME)."
        ) from e
    comm.create_local_process_group(local_world_size)
    comm.synchronize()
    main_func(*args)
    comm.synchronize()
    dist.destroy_process_group()


def _external_launch(requested_world_size: int, dist_url: str | None) -> _ExternalLaunch | None:
    """Reads the rank layout set by torchrun or srun, or returns None if there is none."""
    env = os.environ
    if "LOCAL_RANK" in env and "RANK" in env and int(env.get("WORLD_SIZE", "1")) > 1:
        launched = _ExternalLaunch(
            source="torchrun",
            rank=int(env["RANK"]),
            world_size=int(env["WORLD_SIZE"]),
            local_rank=int(env["LOCAL_RANK"]),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", "29500")),
        )
    else:
        launched = _slurm_launch(env, requested_world_size, dist_url)
    if launched is None:
        return None
    if requested_world_size not in (1, launched.world_size):
        logger.warning(
            f"{launched.source} started {launched.world_size} processes; the requested "
            f"--num-gpus x --num-machines = {requested_world_size} is ignored."
        )
    return launched


def _slurm_launch(env, requested_world_size: int, dist_url: str | None) -> _ExternalLaunch | None:
    # SLURM_STEP_NUM_TASKS exists only inside an srun step, not in the batch script itself.
    if "SLURM_PROCID" not in env or int(env.get("SLURM_STEP_NUM_TASKS", "1")) <= 1:
        return None
    world_size = int(env["SLURM_STEP_NUM_TASKS"])
    if requested_world_size not in (1, world_size):
        # e.g. one srun task per machine that spawns its GPUs itself (--num-gpus N).
        return None
    tasks_per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_NTASKS_PER_NODE", "")
    match = re.match(r"\d+", tasks_per_node)
    local_world_size = int(match.group(0)) if match else world_size
    nodelist = (
        env.get("SLURM_STEP_NODELIST")
        or env.get("SLURM_JOB_NODELIST")
        or env.get("SLURM_NODELIST", "127.0.0.1")
    )
    master_addr = env.get("MASTER_ADDR") or _first_host(nodelist)
    if "MASTER_PORT" in env:
        master_port = int(env["MASTER_PORT"])
    elif dist_url and re.match(r"tcp://.*:\d+$", dist_url):
        master_port = int(dist_url.rsplit(":", 1)[1])
    else:
        # Derived from the job id: the same on every node, different for concurrent jobs.
        master_port = 20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000
    return _ExternalLaunch(
        source="srun",
        rank=int(env["SLURM_PROCID"]),
        world_size=world_size,
        local_rank=int(env.get("SLURM_LOCALID", "0")),
        local_world_size=local_world_size,
        master_addr=master_addr,
        master_port=master_port,
    )


def _first_host(nodelist: str) -> str:
    """Returns the first host name of a SLURM node list.

    Examples: ``"gpu[03-05,07],cpu1"`` -> ``"gpu03"``; ``"node1,node2"`` -> ``"node1"``.
    """
    depth = 0
    first = nodelist
    for i, ch in enumerate(nodelist):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            first = nodelist[:i]
            break
    if "[" not in first:
        return first
    prefix, rest = first.split("[", 1)
    ranges, suffix = rest.split("]", 1)
    return prefix + ranges.split(",")[0].split("-")[0] + suffix
