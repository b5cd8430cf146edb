"""detectron2's ``model_zoo`` entry points over det's ``configs/`` directory."""

from .model_zoo import get_config, get_config_file

__all__ = ["get_config", "get_config_file"]
