"""Execute Python config files, with relative imports between config files.

A config file is plain Python run in a fresh namespace whose ``__import__`` is replaced: absolute
imports behave normally, while relative ones (``from .x import y``, ``from ..common.x import y``,
``from . import x``) load the *file* ``x.py`` next to (or above) the importing file, however the
directories are laid out, without ``__init__.py`` files or ``sys.path`` changes. Every import
re-executes the imported file, so a child config that edits an imported ``model`` never changes
what another file imports.
"""

from __future__ import annotations

import builtins
import difflib
import os
import traceback
import types
import uuid
from typing import Any

from omegaconf import DictConfig, ListConfig

from .errors import ConfigError, ConfigImportError, _one_line
from .nodes import to_config

__all__ = ["load_py_config", "check_file_exists"]

# Functions and classes defined in config files get a module name under this prefix (they load,
# as in detectron2, but cannot be written to config.yaml; LazyConfig.save pickles those configs).
_CFG_MODULE_PREFIX = "det._cfg_loader."
# Only these top-level names of a config file become config keys, as in detectron2: helper
# variables (``embed_dim = 768``) are already baked into the tree, and exposing them as keys would
# invite overrides that change nothing.
_KEPT_TYPES = (dict, DictConfig, ListConfig)


def check_file_exists(filename: str, what: str = "Config file") -> None:
    """Raise ``ConfigError`` naming ``filename`` (and similar names nearby) if it is not a file."""
    if os.path.isfile(filename):
        return
    folder = os.path.dirname(filename) or "."
    if not os.path.isdir(folder):
        raise ConfigError(f"{what} '{filename}' does not exist (no directory '{folder}')")
    close = difflib.get_close_matches(os.path.basename(filename), os.listdir(folder), n=3)
    hint = f"; similar files there: {', '.join(close)}" if close else ""
    raise ConfigError(f"{what} '{filename}' does not exist{hint}")


def load_py_config(filename: str, all_values: bool = False) -> dict[str, Any]:
    """Execute a Python config file and return its public dict-like top-level values.

    Args:
        filename: path of a ``.py`` config file.
        all_values: return every public top-level value (strings, numbers, functions too), as
            ``LazyConfig.load(file, keys)`` needs to select any of them.

    Returns:
        ``{name: DictConfig/ListConfig}`` for every top-level name not starting with ``_`` whose
        value is a dict, DictConfig or ListConfig (modules, functions, numbers are dropped
        unless ``all_values``).

    Raises:
        ConfigError: if the file is missing, has a syntax error or raises while executed (the
            message names the file and line).
        ConfigImportError: a relative import of a config file that does not exist, or of a name
            the imported file does not define (an ``ImportError`` too, as in detectron2).
    """
    module = _exec_config(os.path.abspath(filename))
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (
            isinstance(value, _KEPT_TYPES)
            or (all_values and not isinstance(value, types.ModuleType))
        )
    }


def _exec_config(path: str) -> types.ModuleType:
    check_file_exists(path)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        raise ConfigError(
            f"Config file '{path}' has a syntax error at line {e.lineno}: {e.msg}"
        ) from None
    stem = os.path.splitext(os.path.basename(path))[0]
    module = types.ModuleType(f"{_CFG_MODULE_PREFIX}{stem}_{uuid.uuid4().hex[:8]}")
    module.__file__ = path
    module.__dict__["__builtins__"] = _CONFIG_BUILTINS
    try:
        exec(code, module.__dict__)
    except ConfigError as e:
        line = _line_in(e, path)
        raise type(e)(f"{e} (raised while loading '{path}', line {line})") from e
    except Exception as e:
        line = _line_in(e, path)
        raise ConfigError(
            f"Config file '{path}' raised {type(e).__name__} at line {line} while being loaded: "
            f"{_one_line(e)}"
        ) from e
    for name, value in list(vars(module).items()):
        # Module namespaces hold DictConfigs, as detectron2's loader makes them, so that imported
        # trees support attribute access and ``${..}`` interpolation.
        if not name.startswith("_") and isinstance(value, _KEPT_TYPES):
            module.__dict__[name] = to_config(value)
    return module


def _line_in(exc: BaseException, path: str) -> Any:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    return lines[-1] if lines else "?"


def _config_import(
    name: str,
    globals: dict | None = None,
    locals: dict | None = None,
    fromlist: tuple = (),
    level: int = 0,
) -> Any:
    if level == 0 or globals is None or "__file__" not in globals:
        return builtins.__import__(name, globals, locals, fromlist, level)
    importer = globals["__file__"]
    base = os.path.dirname(importer)
    for _ in range(level - 1):
        base = os.path.dirname(base)
    target = os.path.join(base, *name.split(".")) if name else base
    shown = "." * level + name
    if name and os.path.isfile(target + ".py"):
        module = _exec_config(target + ".py")
        for attr in fromlist or ():
            if attr != "*" and not hasattr(module, attr):
                defined = [k for k in vars(module) if not k.startswith("_")]
                raise ConfigImportError(
                    f"Config file '{importer}' imports '{attr}' from '{shown}', but "
                    f"'{target}.py' defines no '{attr}'; it defines: {', '.join(defined)}"
                )
        return module
    if os.path.isdir(target) and fromlist:
        # ``from . import x`` / ``from ..common import x``: each name is a config file there.
        package = types.ModuleType(f"{_CFG_MODULE_PREFIX}{os.path.basename(target)}")
        package.__file__ = target
        for attr in fromlist:
            sub = os.path.join(target, attr + ".py")
            if not os.path.isfile(sub):
                raise ConfigImportError(
                    f"Config file '{importer}': relative import of '{attr}' from '{shown}' "
                    f"failed: config file '{sub}' does not exist (a relative import names a "
                    f".py file, not a directory)"
                )
            setattr(package, attr, _exec_config(sub))
        return package
    raise ConfigImportError(
        f"Config file '{importer}' imports '{shown}', which resolves to '{target}.py': relative "
        f"import failed, that file does not exist"
    )


_CONFIG_BUILTINS = dict(vars(builtins))
_CONFIG_BUILTINS["__import__"] = _config_import
