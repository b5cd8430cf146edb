"""``det.config.get_config`` / ``get_config_file``: kept for existing configs; the home of these
functions is :mod:`det.model_zoo` (detectron2's ``model_zoo`` module path)."""

from __future__ import annotations

from omegaconf import DictConfig

__all__ = ["get_config", "get_config_file"]


# det.model_zoo imports det.config, so it is imported at call time, not here (a cycle).
def get_config_file(config_path: str) -> str:
    """Same as :func:`det.model_zoo.get_config_file`."""
    from det.model_zoo import get_config_file as impl

    return impl(config_path)


def get_config(config_path: str, trained: bool = False) -> DictConfig:
    """Same as :func:`det.model_zoo.get_config`."""
    from det.model_zoo import get_config as impl

    return impl(config_path, trained)
