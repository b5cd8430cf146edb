"""Build objects from lazy-call configs: ``instantiate``, plus dotted-name import helpers.

A *lazy call* is a mapping with a ``_target_`` key (see ``det.config.LazyCall``). Two more reserved
keys follow Hydra's names: ``_partial_: true`` builds ``functools.partial(target, **kwargs)``
instead of calling the target, and ``_args_`` (a list) gives positional arguments. Config
loading turns ``functools.partial`` objects into such nodes so that they survive ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
from collections import abc
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from .errors import ConfigError, _one_line

__all__ = ["instantiate", "locate", "_convert_target_to_string"]

_RESERVED_KEYS = ("_target_", "_partial_", "_args_")


def locate(name: str) -> Any:
    """Import an object from its dotted name, e.g. ``"torch.nn.Linear"``.

    The longest importable module prefix is imported and the remaining parts are looked up as
    attributes, so nested names (``"pkg.mod.Class.method"``) work.

    Args:
        name: dotted import path.

    Returns:
        The object.

    Raises:
        ImportError: naming ``name`` when no such object exists. An error raised while a module
            itself is imported (e.g. a missing dependency inside it) propagates unchanged.
    """
    if not isinstance(name, str) or not name or any(not p for p in name.split(".")):
        raise ImportError(f"Cannot locate {name!r}: expected a dotted name such as 'pkg.mod.Class'")
    parts = name.split(".")
    obj = _import_module_or_none(parts[0])
    if obj is None:
        raise ImportError(f"Cannot locate '{name}': there is no module named '{parts[0]}'")
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        prefix = ".".join(parts[: i + 1])
        module = _import_module_or_none(prefix) if inspect.ismodule(obj) else None
        if module is None:
            raise ImportError(
                f"Cannot locate '{name}': '{'.'.join(parts[:i])}' has no attribute '{part}'"
            )
        obj = module
    return obj


def _import_module_or_none(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # Only "this very module does not exist" means "not a module"; a missing dependency
        # inside an existing module is a real error the user must see.
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            return None
        raise


def _convert_target_to_string(target: Any) -> str:
    """Return the shortest dotted name under which ``locate`` finds ``target`` again.

    ``torch.nn.modules.linear.Linear`` becomes ``torch.nn.Linear``: shorter public paths are
    tried first and kept only when they resolve to the very same object.

    Raises:
        ValueError: if ``target`` has no importable name (lambdas, local functions or classes,
            bound methods of instances).
    """
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise ValueError(f"{target!r} has no importable dotted name")
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i] + [qualname])
        try:
            if locate(candidate) is target:
                return candidate
        except Exception:
            # A prefix that fails to import is simply not a shorter alias.
            continue
    raise ValueError(f"{target!r} cannot be imported back from '{module}.{qualname}'")


def _describe(target: Any) -> str:
    if isinstance(target, str):
        return target
    try:
        return _convert_target_to_string(target)
    except ValueError:
        return repr(target)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _full_key(node: Any) -> str:
    # OmegaConf knows where a sub-node sits in its root config; use it so errors show the
    # user's key path ("model.roi_heads") even when instantiate() is given a sub-node.
    try:
        key = node._get_full_key(None)
    except Exception:
        return ""
    return key if isinstance(key, str) else ""


def _get(cfg: Any, key: Any, path: str) -> Any:
    try:
        return cfg[key]
    except MissingMandatoryValue as e:
        raise ConfigError(
            f"Config key '{_join(path, key)}' has no value ('???'); set it in the config file or "
            f"with an override '{_join(path, key)}=...'"
        ) from e
    except OmegaConfBaseException as e:
        raise ConfigError(f"Cannot resolve config key '{_join(path, key)}': {_one_line(e)}") from e


def instantiate(cfg: Any) -> Any:
    """Recursively build the objects described by a config.

    * A mapping with ``_target_`` is called: ``target(*_args_, **kwargs)`` where every keyword
      argument is instantiated first; ``_target_`` may be a class, a function or a dotted string.
      With ``_partial_: true`` the result is ``functools.partial(target, *_args_, **kwargs)``.
    * A mapping without ``_target_`` becomes a ``dict`` and a list/ListConfig becomes a ``list``,
      with every element instantiated. (Detectron2 returns a ListConfig and leaves target-less
      DictConfigs untouched; plain containers keep OmegaConf types out of model code and let
      dicts of lazy calls be built.)
    * ``${...}`` interpolations, including relative ``${..x}``, are resolved at this point, from
      where the node sits in its root config.
    * Anything else (numbers, strings, objects already built, including dict subclasses and
      namedtuples) is returned as is.

    Args:
        cfg: a DictConfig/ListConfig/dict/list tree, or any other object.

    Returns:
        The built object(s).

    Raises:
        ConfigError: for a missing (``???``) or unresolvable value, a ``_target_`` that cannot be
            imported or is not callable, or keyword arguments the target does not accept; the
            message names the key path. Exceptions raised by the target itself propagate with
            their own type and a note naming the key path and target.
    """
    return _instantiate(cfg, _full_key(cfg))


def _instantiate(cfg: Any, path: str) -> Any:
    if isinstance(cfg, DictConfig) and dataclasses.is_dataclass(cfg._metadata.object_type):
        return OmegaConf.to_object(cfg)
    # Exact types only: a built object that happens to be a dict/tuple subclass (OrderedDict,
    # namedtuple) or another Mapping is not a config and passes through untouched.
    if isinstance(cfg, ListConfig) or type(cfg) in (list, tuple):
        items = [_instantiate(_get(cfg, i, path), f"{path}[{i}]") for i in range(len(cfg))]
        return tuple(items) if type(cfg) is tuple else items
    if isinstance(cfg, DictConfig) or type(cfg) is dict:
        if "_target_" in cfg:
            return _call(cfg, path)
        return {k: _instantiate(_get(cfg, k, path), _join(path, k)) for k in cfg.keys()}
    return cfg


def _resolve_target(cfg: Any, path: str) -> Any:
    target = _get(cfg, "_target_", path)
    if isinstance(target, abc.Mapping):
        target = _instantiate(target, _join(path, "_target_"))
    if isinstance(target, str):
        try:
            target = locate(target)
        except ImportError as e:
            where = f"'{path}'" if path else "the config"
            raise ConfigError(f"Cannot instantiate {where}: _target_ {e}") from e
    if not callable(target):
        raise ConfigError(
            f"Cannot instantiate '{path}': _target_ {target!r} is not callable; expected a class, "
            "a function or a dotted import string"
        )
    return target


def _call(cfg: Any, path: str) -> Any:
    target = _resolve_target(cfg, path)
    name = _describe(target)
    partial = bool(_get(cfg, "_partial_", path)) if "_partial_" in cfg else False
    args = _instantiate(_get(cfg, "_args_", path), _join(path, "_args_")) if "_args_" in cfg else []
    kwargs = {
        k: _instantiate(_get(cfg, k, path), _join(path, k))
        for k in cfg.keys()
        if k not in _RESERVED_KEYS
    }
    _check_arguments(target, name, path, args, kwargs, partial)
    if partial:
        return functools.partial(target, *args, **kwargs)
    try:
        return target(*args, **kwargs)
    except Exception as e:
        # Keep the original exception (a bug in model code needs its traceback), but say which
        # config node was being built; only the innermost failing node adds the note.
        if not getattr(e, "_det_config_noted", False) and hasattr(e, "add_note"):
            e.add_note(f"(while instantiating config key '{path or '<root>'}' -> {name})")
            e._det_config_noted = True
        raise


def _check_arguments(
    target: Any, name: str, path: str, args: list, kwargs: dict, partial: bool
) -> None:
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return  # some builtins have no signature; let the call itself report
    try:
        if partial:
            sig.bind_partial(*args, **kwargs)
        else:
            sig.bind(*args, **kwargs)
    except TypeError as e:
        accepted = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        hints = []
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=3)
                if close:
                    hints.append(f"for '{key}' did you mean {' or '.join(close)}?")
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise ConfigError(
            f"Cannot instantiate '{path or '<root>'}' ({name}): {e}{hint}. "
            f"It accepts: {', '.join(accepted) or '(no keyword arguments)'}"
        ) from None
