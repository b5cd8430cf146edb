import importlib

import pytest

from det.engine.launch import _external_launch, _first_host, default_dist_url, launch
from det.utils.errors import UserError

# det.engine.launch is also the name of the function re-exported by det.engine.
launch_module = importlib.import_module("det.engine.launch")


def test_default_dist_url_port_from_uid(monkeypatch):
    monkeypatch.setattr(launch_module.os, "getuid", lambda: 0)
    assert default_dist_url() == "tcp://127.0.0.1:49152"  # 2**15 + 2**14
    monkeypatch.setattr(launch_module.os, "getuid", lambda: 1000)
    assert default_dist_url() == "tcp://127.0.0.1:50152"


@pytest.mark.parametrize(
    "nodelist, expected",
    [
        ("gpu[03-05,07],cpu1", "gpu03"),
        ("node1,node2", "node1"),
        ("a-b-[1-3]-ib", "a-b-1-ib"),
        ("single", "single"),
    ],
)
def test_first_host(nodelist, expected):
    assert _first_host(nodelist) == expected


_ENV_KEYS = [
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
    "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "SLURM_STEP_NODELIST",
    "SLURM_STEP_TASKS_PER_NODE", "SLURM_JOB_ID", "SLURM_NTASKS_PER_NODE", "SLURM_JOB_NODELIST",
    "SLURM_NODELIST",
]  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch):
    for key in _ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_torchrun_environment(clean_env):
    assert _external_launch(1, None) is None
    env = dict(RANK="5", WORLD_SIZE="8", LOCAL_RANK="1", LOCAL_WORLD_SIZE="4",
               MASTER_ADDR="10.0.0.2", MASTER_PORT="29400")  # fmt: skip
    for k, v in env.items():
        clean_env.setenv(k, v)
    got = _external_launch(1, None)
    assert (got.source, got.rank, got.world_size, got.local_rank, got.local_world_size) == (
        "torchrun",
        5,
        8,
        1,
        4,
    )
    assert (got.master_addr, got.master_port) == ("10.0.0.2", 29400)
    # The cluster-style WORLD_SIZE/RANK of EVA's README (machines, no LOCAL_RANK) is not torchrun.
    clean_env.delenv("LOCAL_RANK")
    assert _external_launch(4, None) is None


def test_srun_environment(clean_env):
    env = dict(SLURM_PROCID="6", SLURM_STEP_NUM_TASKS="8", SLURM_LOCALID="2",
               SLURM_STEP_NODELIST="gpu[11-12]", SLURM_STEP_TASKS_PER_NODE="4(x2)",
               SLURM_JOB_ID="123")  # fmt: skip
    for k, v in env.items():
        clean_env.setenv(k, v)
    got = _external_launch(1, None)
    assert (got.source, got.rank, got.world_size, got.local_rank, got.local_world_size) == (
        "srun",
        6,
        8,
        2,
        4,
    )
    assert (got.master_addr, got.master_port) == ("gpu11", 20123)
    assert _external_launch(1, "tcp://x:60900").master_port == 60900
    # One task per machine that spawns its GPUs itself: not handled as srun ranks.
    assert _external_launch(16, None) is None


def test_single_process_runs_in_place_and_argument_errors(clean_env):
    seen = []
    launch(seen.append, 1, args=("ran",))
    assert seen == ["ran"]
    with pytest.raises(UserError, match="auto"):
        launch(seen.append, 2, num_machines=2, dist_url="auto", args=(1,))
    with pytest.raises(UserError, match="machine-rank"):
        launch(seen.append, 2, num_machines=2, machine_rank=2, dist_url="tcp://h:1", args=(1,))
