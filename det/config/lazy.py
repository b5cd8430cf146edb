"""``LazyCall`` (``L``) and ``LazyConfig``: detectron2's Python-config API.

A config is an OmegaConf ``DictConfig`` tree. ``L(Class)(a=1)`` records a call without making it:
``{"_target_": Class, "a": 1}``; ``det.config.instantiate`` makes it later. Config files are
Python (``.py``, with relative imports between them) or YAML written by ``LazyConfig.save``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import abc
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, ListConfig

from det.utils.file_io import atomic_write_bytes, atomic_write_text

from .errors import ConfigError, ConfigKeyError
from .nodes import to_config
from .overrides import apply_overrides
from .py_format import config_to_py
from .py_loader import load_py_config
from .yaml_io import dump_yaml, load_yaml_config

__all__ = ["LazyCall", "L", "LazyConfig"]

logger = logging.getLogger(__name__)

_DICT_TYPES = (dict, DictConfig, ListConfig)


def _select(
    filename: str, cfg: DictConfig, extra: dict[str, Any], keys: str | Iterable[str]
) -> Any:
    names = [keys] if isinstance(keys, str) else list(keys)
    defined = list(map(str, cfg.keys())) + list(extra)
    values = []
    for name in names:
        if name in extra:
            values.append(extra[name])
        elif name in cfg.keys():
            values.append(cfg[name])
        else:
            raise ConfigKeyError(
                f"Config file '{filename}' defines no '{name}'; it defines: {', '.join(defined)}"
            )
    return values[0] if isinstance(keys, str) else tuple(values)


def _save_pickle(cfg: DictConfig, path: str) -> str:
    """Pickle ``cfg`` to ``path``; returns a sentence for the log saying what happened."""
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler
    try:
        data = pickler.dumps(cfg)
    except Exception as e:  # noqa: BLE001 -- any pickling failure only means no .pkl copy
        return f"The config could not be pickled either ({type(e).__name__}: {e})."
    atomic_write_bytes(path, data)
    return f"The full config was pickled to {path}."


class LazyCall:
    """Wrap a callable so that calling it returns a config node instead of calling it.

    Example::

        layer = L(torch.nn.Linear)(in_features=4, out_features=2)
        # layer == {"_target_": torch.nn.Linear, "in_features": 4, "out_features": 2}
        linear = instantiate(layer)

    Only keyword arguments are recorded. ``functools.partial`` arguments are stored as
    ``_partial_`` nodes (see ``det.config.instantiate``) so that they survive ``config.yaml``.

    Args:
        target: a class, a function, or a dotted import string (``"torch.nn.Linear"``).
    """

    def __init__(self, target: Any) -> None:
        if not (callable(target) or isinstance(target, (str, abc.Mapping))):
            raise TypeError(
                f"LazyCall target must be a callable, a dotted string or a lazy-call mapping; "
                f"got {target!r}"
            )
        self._target = target

    def __call__(self, **kwargs: Any) -> DictConfig:
        """Return ``DictConfig({"_target_": target, **kwargs})`` (with ``allow_objects``)."""
        if "_target_" in kwargs:
            raise TypeError("LazyCall(...)(**kwargs) cannot take a '_target_' keyword argument")
        return to_config({"_target_": self._target, **kwargs})


L = LazyCall


class LazyConfig:
    """Load, save, override and print configs (static methods, as in detectron2)."""

    @staticmethod
    def load(filename: str | os.PathLike, keys: None | str | Iterable[str] = None) -> Any:
        """Load a ``.py`` or ``.yaml`` config file.

        A Python file is executed; its top-level names not starting with ``_`` whose values are
        dicts/DictConfigs/ListConfigs become the config's keys. Relative imports between config
        files (``from ..common.models.mask_rcnn_fpn import model``) load the named file and may
        import any of its values (dicts, strings, numbers, functions). Functions and lambdas
        may be defined in config files; ``LazyConfig.save`` pickles such a config.

        Args:
            filename: path of a ``.py``, ``.yaml`` or ``.yml`` file.
            keys: if given, return the value of that top-level name for a string, or a tuple of
                values for a sequence of names, instead of the whole config. Any public value
                of a Python file can be selected, not only dicts.

        Returns:
            The config ``DictConfig`` (or the selected values).

        Raises:
            ConfigError: missing file, unknown extension, syntax error, or an exception raised
                while the file runs. Each message names the file.
            ConfigImportError: (also an ``ImportError``) a relative import of a missing file or
                of a name the imported file does not define.
            ConfigKeyError: (also a ``KeyError``) a name in ``keys`` the file does not define.
        """
        filename = os.fspath(filename)
        ext = os.path.splitext(filename)[1]
        if ext == ".py":
            # With ``keys``, any public value may be selected (a string, a number, a function),
            # as detectron2's ``load_rel(file, ("name_str", "name_dict"))`` relies on.
            values = load_py_config(filename, all_values=keys is not None)
            cfg = to_config({k: v for k, v in values.items() if isinstance(v, _DICT_TYPES)})
            if keys is not None:
                extra = {k: v for k, v in values.items() if not isinstance(v, _DICT_TYPES)}
                return _select(filename, cfg, extra, keys)
        elif ext in (".yaml", ".yml"):
            cfg = load_yaml_config(filename)
        else:
            raise ConfigError(
                f"Config file '{filename}' has extension '{ext}'; expected .py, .yaml or .yml"
            )
        if keys is None:
            return cfg
        return _select(filename, cfg, {}, keys)

    @staticmethod
    def load_rel(filename: str, keys: None | str | Iterable[str] = None) -> Any:
        """Like ``load``, with ``filename`` relative to the file that calls this function.

        Meant for config files: ``model = LazyConfig.load_rel("../common/model.py", "model")``.
        """
        caller = sys._getframe(1).f_code.co_filename
        return LazyConfig.load(os.path.join(os.path.dirname(caller), filename), keys)

    @staticmethod
    def save(cfg: DictConfig, filename: str | os.PathLike) -> None:
        """Write ``cfg`` to a YAML file that ``LazyConfig.load`` reads back to an equal config.

        ``_target_`` callables are written as dotted import strings, ``functools.partial`` as
        ``_partial_`` nodes, other importable classes/functions as ``!!python/name:`` tags and
        interpolations unresolved. A value with no YAML form (a built object, a lambda, a
        function defined in a config file) is written as ``???`` (OmegaConf's missing value, an
        error if a reloaded config uses it), listed in a comment at the top of the file and
        named, by key path, in a logged warning; as in detectron2, the whole config is then also
        pickled to ``<filename>.pkl`` (with cloudpickle when installed, which handles lambdas),
        loadable with ``pickle.load``. Both files are written atomically; ``cfg`` is not
        modified.

        Args:
            cfg: the config to save.
            filename: output path, conventionally ``<output_dir>/config.yaml``.
        """
        filename = os.fspath(filename)
        text, bad = dump_yaml(cfg)
        atomic_write_text(filename, text)
        if not bad:
            return
        pkl_note = _save_pickle(cfg, filename + ".pkl")
        logger.warning(
            "LazyConfig.save(%s): %d value(s) cannot be written to YAML and were saved as "
            "'???' (missing): %s. %s",
            filename,
            len(bad),
            "; ".join(f"{key} ({what})" for key, what in bad),
            pkl_note,
        )

    @staticmethod
    def apply_overrides(cfg: DictConfig, overrides: Iterable[str]) -> DictConfig:
        """Apply command-line overrides such as ``model.roi_heads.use_soft_nms=True``.

        Values are parsed as Python literals, falling back to plain strings; a value replaces
        the old one. Unknown keys are errors with suggestions, except a new keyword argument of
        a lazy call whose target accepts it. See ``det.config.overrides`` for every rule.

        Args:
            cfg: the config, modified in place.
            overrides: ``"dotted.key=value"`` strings, applied in order.

        Returns:
            ``cfg``.

        Raises:
            ConfigError: naming the override that is malformed, names an unknown key or cannot
                be applied.
        """
        return apply_overrides(cfg, overrides)

    @staticmethod
    def to_py(cfg: DictConfig, prefix: str = "cfg.") -> str:
        """Render ``cfg`` as Python source for reading (best effort; see ``config_to_py``).

        Args:
            cfg: the config.
            prefix: prepended to each top-level key.

        Returns:
            Python source text, e.g. ``cfg.model = L(det.modeling.GeneralizedRCNN)(...)``.
        """
        return config_to_py(cfg, prefix)
