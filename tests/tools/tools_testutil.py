"""Helpers of the tools tests: paths of the demo configs and running a tool as a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DET_CONFIG = os.path.join(REPO, "projects/ViTDet/configs/demo/eva2_tiny_cascade_synthetic.py")
SEG_CONFIG = os.path.join(
    REPO, "projects/Mask2Former/configs/demo/maskformer_tiny_synthetic_ade20k.py"
)
TRAIN_ITERS = 8


@dataclass
class TrainedRun:
    """A finished tiny training run."""

    config: str
    output_dir: str
    checkpoint: str
    predictions: str  # the evaluator's JSON in <output_dir>/inference
    overrides: list[str]  # applied to every later use of the config (test loader size etc.)
    val_dataset: str  # dataloader.test's dataset


def run_tool(script: str, args: list[str], env: dict, timeout: int = 300):
    """Runs ``python tools/<script> args...`` and returns the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", script), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_tool(name: str):
    """Imports ``tools/<name>.py`` as a module (to call its ``main(argv)`` in this process)."""
    spec = importlib.util.spec_from_file_location(
        f"tool_{name}", os.path.join(REPO, "tools", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
