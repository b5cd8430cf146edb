import contextlib
import importlib.metadata
import io
import runpy

import numpy as np
import torch

from det.utils.env import seed_all_rng


def test_seed_all_rng_is_reproducible():
    assert seed_all_rng(123) == 123
    a = (torch.rand(3), np.random.rand(3))
    seed_all_rng(123)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    seed = seed_all_rng()
    assert isinstance(seed, int) and 0 <= seed < 2**31


def test_collect_env_module_prints_versions():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_module("det.utils.collect_env", run_name="__main__")
    text = out.getvalue()
    for key in ("Python", "PyTorch", "GPU available", "det", "torchvision"):
        assert key in text
    assert torch.__version__ in text
    assert importlib.metadata.version("torchvision") in text
