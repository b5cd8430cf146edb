"""Write configs to YAML and read them back.

What a config may hold and how it is written:

* numbers, strings, booleans, None, lists and dicts: as YAML; ``${...}`` interpolations are kept
  unresolved so that a reloaded config interpolates the same way;
* ``_target_`` callables: their dotted import string (``det.modeling.GeneralizedRCNN``), as
  detectron2 does, so a reloaded config has string targets (``instantiate`` accepts both);
* ``functools.partial`` of an importable callable: a lazy node with ``_partial_: true``;
* other importable classes/functions (e.g. ``act_layer: torch.nn.GELU``): the tag
  ``!!python/name:torch.nn.GELU`` (PyYAML's own spelling), which ``load_yaml_config`` imports back
  to the same object;
* anything else (built objects, lambdas, local classes): written as ``???`` (OmegaConf's "missing
  value", which fails loudly if a reloaded config uses it), listed in a comment at the top of the
  file and reported in a warning naming each key.
"""

from __future__ import annotations

import enum
import numbers
import re
from typing import Any

import yaml
from omegaconf import DictConfig

from .errors import ConfigError, _one_line
from .instantiate import _convert_target_to_string, locate
from .nodes import to_plain
from .py_loader import check_file_exists

__all__ = ["dump_yaml", "load_yaml_config"]

_NAME_TAG = "tag:yaml.org,2002:python/name:"
_MISSING = "???"


class _PyName(str):
    """Dotted name of a class/function, written with the ``!!python/name:`` tag."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        # Anchors/aliases (&id001) make config.yaml hard to read and edit by hand.
        return True


_Dumper.add_representer(_PyName, lambda d, v: d.represent_scalar(_NAME_TAG + str(v), ""))


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.1 reads ``1e-4`` as a string (its float pattern needs a dot); configs mean a float, as
# in OmegaConf's own loader.
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _construct_name(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    try:
        return locate(suffix)
    except ImportError as e:
        raise ConfigError(f"!!python/name:{suffix} (line {node.start_mark.line + 1}): {e}") from e


_Loader.add_multi_constructor(_NAME_TAG, _construct_name)


def _encode(obj: Any, path: str, bad: list[tuple[str, str]]) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key_path = f"{path}.{k}" if path else str(k)
            if k == "_target_" and callable(v) and not isinstance(v, str):
                try:
                    out[k] = _convert_target_to_string(v)
                except ValueError:
                    bad.append((key_path, repr(v)))
                    out[k] = _MISSING
            else:
                out[k] = _encode(v, key_path, bad)
        return out
    if isinstance(obj, list):
        return [_encode(v, f"{path}[{i}]", bad) for i, v in enumerate(obj)]
    if isinstance(obj, enum.Enum):
        bad.append((path, f"enum {obj!r}"))
        return _MISSING
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    # numpy scalars and other subclasses have no YAML representer of their own
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__"):
        try:
            return _PyName(_convert_target_to_string(obj))
        except ValueError:
            bad.append((path, f"{obj!r}, which has no importable name"))
            return _MISSING
    bad.append((path, f"{type(obj).__module__}.{type(obj).__qualname__} object"))
    return _MISSING


def dump_yaml(cfg: Any) -> tuple[str, list[tuple[str, str]]]:
    """Serialise a config tree to YAML text.

    Args:
        cfg: a DictConfig (or dict) config tree.

    Returns:
        ``(text, unserializable)`` where ``unserializable`` lists ``(key_path, description)`` for
        every value written as ``???`` because it has no YAML form.
    """
    bad: list[tuple[str, str]] = []
    data = _encode(to_plain(cfg), "", bad)
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=None,
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )
    if bad:
        header = "".join(f"#   {key}: {what}\n" for key, what in bad)
        text = f"# Values that cannot be written to YAML, saved as '???':\n{header}{text}"
    return text, bad


def load_yaml_config(filename: str) -> DictConfig:
    """Read a YAML config written by ``LazyConfig.save`` (or by hand).

    Args:
        filename: path of a ``.yaml``/``.yml`` file whose top level is a mapping.

    Returns:
        The config, with OmegaConf's ``allow_objects`` flag set.

    Raises:
        ConfigError: if the file is missing, is not valid YAML, has a non-mapping top level, or
            names a ``!!python/name:`` object that cannot be imported.
    """
    check_file_exists(filename)
    with open(filename, encoding="utf-8") as f:
        text = f.read()
    try:
        data = yaml.load(text, Loader=_Loader)
    except ConfigError as e:
        raise ConfigError(f"Config file '{filename}': {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"Config file '{filename}' is not valid YAML: {_one_line(e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file '{filename}' must hold a mapping of keys at the top level, "
            f"got a {type(data).__name__}"
        )
    return DictConfig(data, flags={"allow_objects": True})
