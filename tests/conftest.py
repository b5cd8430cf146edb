"""Test-wide settings: one CPU thread per process, and the ``gpu`` marker's skip on CPU."""

import os

# Set before any test starts a subprocess, which inherits it: the suite shares few cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
