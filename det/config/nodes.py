"""Helpers that normalise config trees: plain containers to OmegaConf nodes, partials to nodes.

Every config node is created with OmegaConf's ``allow_objects`` flag, as detectron2 does, so that
classes, functions and built objects (e.g. ``cfg.optimizer.params.model = model``) can be stored.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from .instantiate import _convert_target_to_string

__all__ = ["to_config", "to_plain", "is_lazy", "iter_leaves"]

_FLAGS = {"allow_objects": True}


def is_lazy(node: Any) -> bool:
    """Whether ``node`` is a lazy call, i.e. a mapping with a ``_target_`` key."""
    return isinstance(node, (dict, DictConfig)) and "_target_" in node


def _partial_to_plain(p: functools.partial) -> Any:
    # A partial of an importable callable becomes a lazy node with ``_partial_: true``: it then
    # round-trips through config.yaml, compares equal by value and its arguments can be
    # overridden from the command line. A partial of an unnamed callable stays an object.
    try:
        _convert_target_to_string(p.func)
    except ValueError:
        return p
    node: dict[str, Any] = {"_target_": p.func, "_partial_": True}
    if p.args:
        node["_args_"] = [to_plain(a) for a in p.args]
    node.update({k: to_plain(v) for k, v in p.keywords.items()})
    return node


def _target_to_plain(target: Any) -> Any:
    # OmegaConf refuses dict subclasses (dict, OrderedDict) and dataclasses as values: it would
    # treat them as (structured) config types. Such targets are stored as their dotted name.
    if isinstance(target, type) and (issubclass(target, dict) or dataclasses.is_dataclass(target)):
        return _convert_target_to_string(target)
    return target


def to_plain(obj: Any) -> Any:
    """Convert a config tree to plain dicts/lists, keeping interpolations as ``${...}`` strings.

    ``functools.partial`` objects of importable callables become ``_partial_`` lazy nodes; other
    leaves (classes, functions, built objects) are returned as they are.
    """
    if isinstance(obj, (DictConfig, ListConfig)):
        obj = OmegaConf.to_container(obj, resolve=False)
    if isinstance(obj, dict):
        return {k: _target_to_plain(v) if k == "_target_" else to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, functools.partial):
        return _partial_to_plain(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # OmegaConf would turn a dataclass instance (e.g. ``ShapeSpec(channels=256)``) into a
        # structured dict that instantiates as a plain dict; a lazy call of its class keeps
        # the type, round-trips through config.yaml and can be overridden field by field.
        node: dict[str, Any] = {"_target_": _target_to_plain(type(obj))}
        fields = (f for f in dataclasses.fields(obj) if f.init)
        node.update({f.name: to_plain(getattr(obj, f.name)) for f in fields})
        return node
    return obj


def to_config(obj: Any) -> Any:
    """Convert dicts/lists (and DictConfig/ListConfig trees) to fresh OmegaConf nodes.

    Args:
        obj: any value; containers are converted recursively (see ``to_plain``).

    Returns:
        A ``DictConfig``/``ListConfig`` with ``allow_objects`` for containers, else the converted
        leaf (a partial may become a ``DictConfig`` lazy node).
    """
    plain = to_plain(obj)
    if isinstance(plain, dict):
        return DictConfig(plain, flags=dict(_FLAGS))
    if isinstance(plain, list):
        return ListConfig(plain, flags=dict(_FLAGS))
    return plain


def iter_leaves(
    obj: Any, path: str = "", skip: Callable[[Any], bool] | None = None
) -> Iterator[tuple[str, Any]]:
    """Yield ``(key_path, value)`` for every non-container value of a plain dict/list tree.

    Args:
        obj: tree made of dicts and lists (see ``to_plain``).
        path: key path of ``obj`` itself, used as prefix (``"model.backbone"``).
        skip: optional predicate; leaves for which it returns True are not yielded.
    """
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_leaves(v, f"{path}.{k}" if path else str(k), skip)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from iter_leaves(v, f"{path}[{i}]", skip)
    elif skip is None or not skip(obj):
        yield path, obj
