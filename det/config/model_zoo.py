"""``get_config``: load the base config trees under the repository's ``configs/`` directory."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from .errors import ConfigError
from .lazy import LazyConfig
from .py_loader import check_file_exists

__all__ = ["get_config", "get_config_file"]


def _configs_dir() -> Path:
    import det

    # configs/ sits next to the det/ package in a source checkout (and an editable install).
    root = Path(det.__file__).resolve().parents[1] / "configs"
    if not root.is_dir():
        raise ConfigError(
            f"The configs/ directory was not found at '{root}': det seems to be installed "
            "without its source tree. get_config needs a checkout installed with "
            "'pip install -e .'; or load a config file by path with LazyConfig.load"
        )
    return root


def get_config_file(config_path: str) -> str:
    """Return the absolute path of a config file under the repository's ``configs/``.

    Args:
        config_path: path relative to ``configs/``, e.g. ``"common/models/mask_rcnn_fpn.py"``
            (a leading ``"configs/"`` is accepted too).

    Raises:
        ConfigError: if ``configs/`` or the file does not exist.
    """
    relative = config_path.removeprefix("configs/")
    path = _configs_dir() / relative
    check_file_exists(str(path))
    return str(path)


def get_config(config_path: str) -> DictConfig:
    """Load a config file under the repository's ``configs/`` directory.

    Example: ``model = get_config("common/models/mask_rcnn_fpn.py").model``.

    Args:
        config_path: path relative to ``configs/`` (see ``get_config_file``).

    Returns:
        The loaded config (``LazyConfig.load``).
    """
    return LazyConfig.load(get_config_file(config_path))
