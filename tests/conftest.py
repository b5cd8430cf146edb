"""Test-wide settings: one CPU thread per process, the ``gpu`` marker's skip on CPU, and
logging restored after tests that configure the ``det`` loggers."""

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


@pytest.fixture(autouse=True)
def _restore_det_loggers():
    """Undoes ``det.utils.logger.setup_logger`` after each test.

    In-process runs of the tools call it (through ``default_setup``); it turns off propagation
    of the ``det`` and ``fvcore`` loggers to the root logger, where ``caplog`` listens, which
    would break log assertions in every later test.
    """
    saved = {}
    for name in ("det", "fvcore"):
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.propagate, logger.level)
    yield
    from det.utils.logger import setup_logger

    setup_logger.cache_clear()
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)
