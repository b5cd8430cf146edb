"""Shared fixtures of the tools tests: a synthetic datasets root and tiny trained checkpoints.

The two demo configs (ViTDet cascade on synthetic COCO, Mask2Former on synthetic ADE20K) are
trained for a few iterations by ``tools/lazyconfig_train_net.py`` in a subprocess, once per
session; the evaluation at the end writes the prediction JSONs the tools read.
"""

from __future__ import annotations

import os

import pytest
from tools_testutil import DET_CONFIG, REPO, SEG_CONFIG, TRAIN_ITERS, TrainedRun, run_tool


@pytest.fixture(scope="session")
def tools_root(tmp_path_factory) -> str:
    """The DETECTRON2_DATASETS root of every tool run (datasets are written on first use)."""
    return str(tmp_path_factory.mktemp("tools_datasets"))


@pytest.fixture(scope="session")
def tools_env(tools_root) -> dict:
    """Environment of the tool subprocesses."""
    env = dict(os.environ)
    env.update(
        DETECTRON2_DATASETS=tools_root,
        PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
    )
    return env


def _train(
    config: str, out: str, json_name: str, env: dict, extra: list[str], val_dataset: str
) -> TrainedRun:
    overrides = [
        f"train.max_iter={TRAIN_ITERS}",
        f"train.eval_period={TRAIN_ITERS}",
        f"train.checkpointer.period={TRAIN_ITERS}",
        "train.log_period=2",
        "dataloader.train.num_workers=0",
        f"lr_multiplier.warmup_length={1 / TRAIN_ITERS}",
        *extra,
    ]
    args = [
        "--config-file",
        config,
        *overrides,
        f"train.output_dir={out}",
        f"dataloader.evaluator.output_dir={os.path.join(out, 'inference')}",
    ]
    proc = run_tool("lazyconfig_train_net.py", args, env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checkpoint = os.path.join(out, "model_final.pth")
    assert os.path.isfile(checkpoint)
    keep = [o for o in overrides if not o.startswith(("train.", "lr_multiplier."))]
    predictions = os.path.join(out, "inference", json_name)
    return TrainedRun(config, out, checkpoint, predictions, keep, val_dataset)


@pytest.fixture(scope="session")
def det_run(tools_env, tmp_path_factory) -> TrainedRun:
    """The ViTDet demo config trained for a few iterations."""
    out = str(tmp_path_factory.mktemp("det_run"))
    extra = [f"lr_multiplier.scheduler.milestones=[{TRAIN_ITERS - 2},{TRAIN_ITERS - 1}]"]
    return _train(
        DET_CONFIG, out, "coco_instances_results.json", tools_env, extra, "synthetic_coco_val"
    )


@pytest.fixture(scope="session")
def seg_run(tools_env, tmp_path_factory) -> TrainedRun:
    """The Mask2Former demo config trained for a few iterations."""
    out = str(tmp_path_factory.mktemp("seg_run"))
    return _train(
        SEG_CONFIG,
        out,
        "sem_seg_predictions.json",
        tools_env,
        [],
        "synthetic_ade20k_sem_seg_val",
    )


@pytest.fixture
def registered_root(tools_root, monkeypatch):
    """Registers the built-in datasets under the tools' root in this process (restored after)."""
    from det.data.datasets.builtin import register_all_builtin
    from det.data.datasets.paths import get_datasets_root

    original = get_datasets_root()
    monkeypatch.setenv("DETECTRON2_DATASETS", tools_root)
    register_all_builtin(tools_root)
    yield tools_root
    register_all_builtin(original)
