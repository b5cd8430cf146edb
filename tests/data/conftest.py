"""Fixtures shared by the dataset tests."""

import pytest

from det.data.datasets import get_datasets_root, register_all_builtin


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty dataset root with the built-in datasets registered under it (restored after)."""
    original_root = get_datasets_root()
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    register_all_builtin(str(tmp_path))
    yield str(tmp_path)
    register_all_builtin(original_root)
