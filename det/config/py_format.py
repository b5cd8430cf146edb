"""Render a config tree as Python source (``LazyConfig.to_py``), in detectron2's layout.

Lazy calls are written as calls of their dotted target (``itertools.count(x=1)``), plain dicts at
the top level as one assignment per leaf (``cfg.train.max_iter = 10``), and every statement is
laid out the way ``black`` (line length 88) lays it out: on one line if it fits, else split at its
trailing bracket, the contents on one indented line if they fit, else one item per line with a
trailing comma, recursively. The result is for reading and diffing, not guaranteed to execute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from .instantiate import _convert_target_to_string
from .nodes import is_lazy, to_plain

__all__ = ["config_to_py"]

_WIDTH = 88
_RESERVED = ("_target_", "_partial_", "_args_")


@dataclass
class _Bracket:
    """``head`` + items (each a ``(prefix, expression)``) + ``closer``: a call, dict or list."""

    head: str
    closer: str
    items: list[tuple[str, Any]] = field(default_factory=list)


def _flat(expr: Any) -> str:
    if isinstance(expr, str):
        return expr
    inner = ", ".join(p + _flat(e) for p, e in expr.items)
    return expr.head + inner + expr.closer


def _render(prefix: str, expr: Any, suffix: str, indent: int) -> list[str]:
    pad = " " * indent
    line = pad + prefix + _flat(expr) + suffix
    if len(line) <= _WIDTH or isinstance(expr, str) or not expr.items:
        return [line]
    lines = [pad + prefix + expr.head]
    body = " " * (indent + 4) + ", ".join(p + _flat(e) for p, e in expr.items)
    if len(body) <= _WIDTH:
        lines.append(body)
    elif len(expr.items) == 1:
        p, e = expr.items[0]
        lines.extend(_render(p, e, "", indent + 4))
    else:
        for p, e in expr.items:
            lines.extend(_render(p, e, ",", indent + 4))
    lines.append(pad + expr.closer + suffix)
    return lines


def _str_literal(s: str) -> str:
    # black's quote normalisation: double quotes unless that needs more escapes.
    text = repr(s)
    if text.startswith("'") and '"' not in s:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def _name(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    try:
        return _convert_target_to_string(obj)
    except ValueError:
        return repr(obj)


def _expr(obj: Any) -> Any:
    if is_lazy(obj):
        items = [("", _expr(a)) for a in obj.get("_args_", [])]
        items += [(f"{k}=", _expr(v)) for k, v in obj.items() if k not in _RESERVED]
        target = _name(obj["_target_"])
        if obj.get("_partial_"):
            return _Bracket("functools.partial(", ")", [("", target)] + items)
        return _Bracket(f"{target}(", ")", items)
    if isinstance(obj, dict):
        return _Bracket("{", "}", [(f"{_expr(k)}: ", _expr(v)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return _Bracket("[", "]", [("", _expr(v)) for v in obj])
    if isinstance(obj, str):
        return _str_literal(obj)
    if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")):
        return _name(obj)
    return repr(obj)


def _statements(obj: dict, prefix: str) -> list[str]:
    lines = []
    for k, v in obj.items():
        if isinstance(v, dict) and v and not is_lazy(v):
            lines.extend(_statements(v, f"{prefix}{k}."))
        else:
            lines.extend(_render(f"{prefix}{k} = ", _expr(v), "", 0))
    return lines


def config_to_py(cfg: Any, prefix: str = "cfg.") -> str:
    """Render ``cfg`` as Python statements such as ``cfg.model = det.modeling.ViT(...)``.

    Interpolations are resolved when possible (else kept as ``"${...}"`` strings). Lazy calls are
    written as calls of their dotted ``_target_``, partial nodes as ``functools.partial(...)``;
    objects without a literal form with ``repr``. Output matches detectron2's ``to_py``.

    Args:
        cfg: a DictConfig or dict.
        prefix: prepended to every top-level key.

    Returns:
        Python source text, one statement per leaf of the top-level dicts.
    """
    try:
        plain = to_plain(OmegaConf.to_container(cfg, resolve=True))
    except Exception:
        # A missing value or a dangling interpolation: show the tree unresolved instead.
        plain = to_plain(cfg)
    return "\n".join(_statements(plain, prefix)) + "\n"
