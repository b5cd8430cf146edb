"""Render a config tree as Python source (``LazyConfig.to_py``); best effort, for reading."""

from __future__ import annotations

import importlib.util
from typing import Any

from omegaconf import OmegaConf

from .instantiate import _convert_target_to_string
from .nodes import is_lazy, to_plain

__all__ = ["config_to_py"]

_WIDTH = 100
_RESERVED = ("_target_", "_partial_", "_args_")


def _name(obj: Any, modules: set[str]) -> str:
    if isinstance(obj, str):
        name = obj
    else:
        try:
            name = _convert_target_to_string(obj)
        except ValueError:
            return repr(obj)
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            if importlib.util.find_spec(module) is not None:
                modules.add(module)
                break
        except (ImportError, ValueError):
            continue
    return name


def _join(head: str, items: list[str], tail: str, indent: int) -> str:
    one_line = head + ", ".join(items) + tail
    if len(one_line) + indent <= _WIDTH and "\n" not in one_line:
        return one_line
    pad = " " * (indent + 4)
    return head + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + tail


def _expr(obj: Any, indent: int, modules: set[str]) -> str:
    if is_lazy(obj):
        target = _name(obj["_target_"], modules)
        args = [_expr(a, indent + 4, modules) for a in obj.get("_args_", [])]
        kwargs = [
            f"{k}={_expr(v, indent + 4, modules)}" for k, v in obj.items() if k not in _RESERVED
        ]
        if obj.get("_partial_"):
            modules.add("functools")
            return _join(f"functools.partial({target}, ", args + kwargs, ")", indent)
        if args:
            return _join(f"{target}(", args + kwargs, ")", indent)
        return _join(f"L({target})(", kwargs, ")", indent)
    if isinstance(obj, dict):
        items = [f"{k!r}: {_expr(v, indent + 4, modules)}" for k, v in obj.items()]
        return _join("{", items, "}", indent)
    if isinstance(obj, list):
        return _join("[", [_expr(v, indent + 4, modules) for v in obj], "]", indent)
    if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")):
        return _name(obj, modules)
    return repr(obj)


def _statements(obj: dict, prefix: str, modules: set[str]) -> list[str]:
    lines = []
    for k, v in obj.items():
        if isinstance(v, dict) and v and not is_lazy(v):
            lines.extend(_statements(v, f"{prefix}{k}.", modules))
        else:
            lines.append(f"{prefix}{k} = {_expr(v, 0, modules)}")
    return lines


def config_to_py(cfg: Any, prefix: str = "cfg.") -> str:
    """Render ``cfg`` as Python statements ``cfg.model = L(pkg.Class)(...)``.

    Interpolations are resolved when possible (else kept as ``"${...}"`` strings). Lazy calls are
    written as ``L(dotted.name)(...)``, partial nodes as ``functools.partial(...)``; the import
    lines needed for the dotted names come first. Objects without a Python literal form are
    written with ``repr``, so the result is for reading, not guaranteed to execute.

    Args:
        cfg: a DictConfig or dict.
        prefix: prepended to every top-level key.

    Returns:
        Python source text.
    """
    try:
        plain = to_plain(OmegaConf.to_container(cfg, resolve=True))
    except Exception:
        # A missing value or a dangling interpolation: show the tree unresolved instead.
        plain = to_plain(cfg)
    modules: set[str] = set()
    body = _statements(plain, prefix, modules)
    header = ["from det.config import LazyCall as L"] + [f"import {m}" for m in sorted(modules)]
    return "\n".join(header) + "\n\n" + "\n".join(body) + "\n"
