"""``get_config`` / ``get_config_file``: the base config trees of det's ``configs/`` directory.

The detectron2 spelling, so configs written for detectron2 keep working with the package name
changed: ``from det import model_zoo; model = model_zoo.get_config("common/models/...").model``.

Where ``configs/`` is found, in this order:

1. ``det/model_zoo/configs/``: a copy made by a wheel build (as detectron2's ``setup.py``
   copies its configs into the package). Nothing in the repository puts it there, and a
   source checkout does not need it.
2. ``<checkout>/configs/`` next to the ``det/`` package folder: a source checkout used from its
   root or installed with ``pip install -e .`` (an editable install imports ``det`` from the
   checkout, so ``det.__file__`` points into it).

A regular (non-editable) install from a source tree has neither; every lookup then fails with
a ``ConfigError`` saying so. Config files outside ``configs/`` (``projects/.../configs``, your
own) are loaded by path with ``LazyConfig.load`` instead.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from omegaconf import DictConfig

from det.config.errors import ConfigError
from det.config.lazy import LazyConfig

__all__ = ["get_config", "get_config_file"]


def _configs_dir() -> Path:
    import det

    package = Path(det.__file__).resolve().parent
    for root in (package / "model_zoo" / "configs", package.parent / "configs"):
        if root.is_dir():
            return root
    raise ConfigError(
        f"The configs/ directory was not found at '{package.parent / 'configs'}' (nor "
        f"'{package / 'model_zoo' / 'configs'}'): det seems to be installed without its source "
        "tree. get_config needs a checkout installed with 'pip install -e .'; or load a config "
        "file by path with LazyConfig.load"
    )


def _available(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py"))


def get_config_file(config_path: str) -> str:
    """Returns the absolute path of a config file under det's ``configs/``.

    Args:
        config_path: path relative to ``configs/``, e.g. ``"common/models/mask_rcnn_vitdet.py"``
            (a leading ``"configs/"`` is accepted too).

    Returns:
        The absolute path of the file.

    Raises:
        ConfigError: if ``configs/`` or the file does not exist; the message lists the closest
            files there (or every file of the folder asked for).
    """
    relative = config_path.removeprefix("configs/")
    root = _configs_dir()
    path = root / relative
    if path.is_file():
        return str(path)
    available = _available(root)
    similar = difflib.get_close_matches(relative, available, n=5, cutoff=0.6)
    folder = str(Path(relative).parent)
    same_folder = [p for p in available if str(Path(p).parent) == folder]
    listed = similar or same_folder or available
    raise ConfigError(
        f"get_config: '{config_path}' does not exist under {root}; similar files there: "
        f"{', '.join(Path(p).name if p in same_folder else p for p in listed)}"
    )


def get_config(config_path: str, trained: bool = False) -> DictConfig:
    """Loads a config file under det's ``configs/`` directory.

    Example: ``model = model_zoo.get_config("common/models/mask_rcnn_vitdet.py").model``.

    Args:
        config_path: path relative to ``configs/`` (see :func:`get_config_file`).
        trained: detectron2 sets ``train.init_checkpoint`` to its model-zoo weights when True.
            det hosts no weights, so True is refused; pass the released checkpoint with
            ``train.init_checkpoint=/path/model.pth`` instead.

    Returns:
        The loaded config (:meth:`LazyConfig.load`).

    Raises:
        ConfigError: if the file does not exist, or ``trained`` is True.
    """
    if trained:
        raise ConfigError(
            f"get_config('{config_path}', trained=True): det has no model-zoo weights to "
            "download; load the config with trained=False and set train.init_checkpoint to a "
            "local checkpoint file"
        )
    return LazyConfig.load(get_config_file(config_path))
