"""Command-line overrides ``a.b.c=value`` applied to a config tree.

Rules (each violation is a ``ConfigError`` naming the override):

* The text before the first ``=`` is a dotted key; list items are addressed as ``a.b[0]`` or
  ``a.b.0``. The value is parsed as a Python literal (``True``, ``0.6``, ``None``, ``[1, 2]``,
  ``{}``, ``'quoted'``); if that fails, a bracketed value is read as YAML (``[a, b]``) and
  anything else is kept as a plain string (``linear``, ``/x.pth``, ``${..lr}``).
* The value replaces the old one; dicts are not merged (``optimizer.params.overrides={}``
  empties the dict).
* Every key on the path must exist, except the last one when its parent is a lazy call (a node
  with ``_target_``) whose target accepts that keyword argument, e.g.
  ``model.roi_heads.use_soft_nms=True`` on ``L(CascadeROIHeads)(...)``. Any other unknown key
  is an error that suggests the closest existing keys.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import logging
import re
from collections.abc import Iterable
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError, ConfigKeyError, _one_line
from .instantiate import _describe, locate
from .nodes import is_lazy
from .yaml_io import _Loader

__all__ = ["apply_overrides", "parse_override_value"]

logger = logging.getLogger(__name__)

_PART_RE = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")
# Keys of a lazy call that instantiate understands besides the target's own arguments.
_LAZY_KEYS = ("_partial_", "_args_")


def parse_override_value(text: str) -> Any:
    """Parse the value part of an override.

    Args:
        text: what follows the first ``=``.

    Returns:
        A Python literal (bool, int, float, None, str, list, dict, ...) when ``text`` is one, a
        list/dict when ``text`` is bracketed YAML such as ``[a, b]``, else ``text`` itself.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            value = yaml.load(stripped, Loader=_Loader)
        except yaml.YAMLError:
            return text
        if isinstance(value, (list, dict)):
            return value
    return text


def _split_key(key: str, override: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in key.split("."):
        match = _PART_RE.match(piece)
        if not match or not (match.group(1) or (parts and match.group(2))):
            raise ConfigError(
                f"Override '{override}': key '{key}' is not a dotted key such as "
                "'model.roi_heads.use_soft_nms' or 'a.b[0].c'"
            )
        if match.group(1):
            parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return parts


def _fmt(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _suggest(word: str, candidates: Iterable[Any]) -> str:
    names = [str(c) for c in candidates]
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    if close:
        return f" Did you mean: {', '.join(close)}?"
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f" Existing keys: {shown or '(none)'}."


def _where(parts: list[str | int]) -> str:
    return f"'{_fmt(parts)}'" if parts else "the config root"


def _list_index(node: ListConfig, part: str | int, parts: list, override: str) -> int:
    if isinstance(part, str) and not part.isdigit():
        raise ConfigError(
            f"Override '{override}': {_where(parts)} is a list; expected an index, got '{part}'"
        )
    index = int(part)
    if index >= len(node):
        raise ConfigError(
            f"Override '{override}': index {index} is out of range for the list "
            f"{_where(parts)} of length {len(node)}"
        )
    return index


def _child(node: Any, part: str | int, parts: list, override: str) -> Any:
    if isinstance(node, ListConfig):
        return node[_list_index(node, part, parts, override)]
    keys = list(node.keys())
    if part not in keys:
        raise ConfigKeyError(
            f"Override '{override}': key '{part}' does not exist in {_where(parts)}."
            + _suggest(str(part), keys)
        )
    try:
        return node[part]
    except OmegaConfBaseException as e:
        raise ConfigError(
            f"Override '{override}': cannot read {_where(parts + [part])}: {_one_line(e)}"
        ) from e


def _accepts_keyword(node: DictConfig, key: str, parts: list, override: str) -> None:
    target = node["_target_"]
    if isinstance(target, str):
        try:
            target = locate(target)
        except ImportError as e:
            raise ConfigKeyError(
                f"Override '{override}': key '{key}' does not exist in {_where(parts)} and its "
                f"_target_ cannot be imported to check that it accepts '{key}': {e}"
            ) from e
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        logger.warning(
            "Override '%s': cannot inspect the signature of %s; adding '%s' unchecked",
            override,
            _describe(target),
            key,
        )
        return
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [name for name, p in params.items() if p.kind in kinds]
    if key in accepted or key in _LAZY_KEYS:
        return
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    raise ConfigKeyError(
        f"Override '{override}': key '{key}' does not exist in {_where(parts)} and "
        f"{_describe(target)} does not accept a keyword argument '{key}'."
        + _suggest(key, dict.fromkeys(list(node.keys()) + accepted))
    )


def _apply_one(cfg: DictConfig, override: str) -> None:
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"Override '{override}' is not of the form key=value "
            "(e.g. 'train.init_checkpoint=/path/model.pth' or 'model.roi_heads.use_soft_nms=True')"
        )
    parts = _split_key(key, override)
    value = parse_override_value(text)
    node: Any = cfg
    for i, part in enumerate(parts[:-1]):
        node = _child(node, part, parts[:i], override)
        if not isinstance(node, (DictConfig, ListConfig)):
            raise ConfigKeyError(
                f"Override '{override}': {_where(parts[: i + 1])} holds a "
                f"{type(node).__name__} ({node!r}), not a config node, so it has no key "
                f"'{parts[i + 1]}'"
            )
    last, parent = parts[-1], parts[:-1]
    try:
        if isinstance(node, ListConfig):
            node[_list_index(node, last, parent, override)] = value
        elif last in list(node.keys()):
            node[last] = value
        elif is_lazy(node) and isinstance(last, str):
            _accepts_keyword(node, last, parent, override)
            with open_dict(node):
                node[last] = value
        else:
            raise ConfigKeyError(
                f"Override '{override}': key '{last}' does not exist in {_where(parent)}."
                + _suggest(str(last), list(node.keys()))
            )
    except OmegaConfBaseException as e:
        raise ConfigError(f"Override '{override}' cannot be applied: {_one_line(e)}") from e


def apply_overrides(cfg: DictConfig, overrides: Iterable[str]) -> DictConfig:
    """Apply ``key=value`` overrides in place, in order (see the module docstring for rules).

    Args:
        cfg: the config root.
        overrides: strings such as ``"model.roi_heads.use_soft_nms=True"``.

    Returns:
        ``cfg`` itself, modified.

    Raises:
        ConfigError: for a malformed override, an unknown key, a key a lazy call's target does
            not accept, or a value the node rejects; the message names the override.
    """
    if isinstance(overrides, str):
        raise ConfigError(
            f"apply_overrides expects a list of 'key=value' strings, got {overrides!r}"
        )
    for override in overrides:
        _apply_one(cfg, override)
    return cfg
