"""Python configs with detectron2's LazyConfig API: ``L``, ``instantiate``, ``LazyConfig``."""

from .errors import ConfigError, ConfigImportError, ConfigKeyError
from .instantiate import instantiate, locate
from .lazy import L, LazyCall, LazyConfig
from .model_zoo import get_config, get_config_file

__all__ = [
    "ConfigError",
    "ConfigImportError",
    "ConfigKeyError",
    "L",
    "LazyCall",
    "LazyConfig",
    "get_config",
    "get_config_file",
    "instantiate",
    "locate",
]
