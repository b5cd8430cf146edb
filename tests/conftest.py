"""Test-wide settings: one CPU thread per process, the ``gpu`` marker's skip on CPU, and a
``det_caplog`` fixture."""

import logging
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


@pytest.fixture
def det_caplog(caplog):
    """``caplog`` that also receives records of the ``det`` loggers.

    ``det.utils.logger.setup_logger`` (run by ``default_setup`` in earlier tests) turns off
    propagation to the root logger, where ``caplog`` listens; this attaches its handler to
    ``det`` directly.
    """
    logger = logging.getLogger("det")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
