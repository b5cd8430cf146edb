"""det's imports point down: utils -> structures -> layers -> modeling -> data/evaluation -> engine.

Every module of a package is parsed (not imported) and each ``import det.X`` /
``from det.X import`` / relative import that climbs out of the package is resolved to its
top-level det package, including imports inside functions, which would otherwise hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DET = Path(__file__).resolve().parents[1] / "det"

# Packages each package must never import (directly or lazily).
FORBIDDEN = {
    "utils": {"structures", "layers", "modeling", "data", "evaluation", "engine", "checkpoint"},
    "structures": {"layers", "modeling", "data", "evaluation", "engine", "checkpoint"},
    "layers": {"modeling", "data", "evaluation", "engine", "checkpoint"},
    "modeling": {"data", "evaluation", "engine"},
}


def _det_imports(path: Path, root: Path = DET) -> list[tuple[int, str]]:
    """(line, top-level det package) of every det import in one file under ``root``."""
    module_parts = ["det", *path.relative_to(root).with_suffix("").parts]
    if module_parts[-1] == "__init__":
        module_parts = module_parts[:-1]
        package_parts = module_parts
    else:
        package_parts = module_parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    # "from .. import x": each x may be a subpackage.
                    names = [f"{target}.{alias.name}" for alias in node.names]
                else:
                    names = [target]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "det" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_upward(package):
    offending = []
    for path in sorted((DET / package).rglob("*.py")):
        for line, target in _det_imports(path):
            if target in FORBIDDEN[package]:
                offending.append(f"{path.relative_to(DET.parent)}:{line} imports det.{target}")
    assert not offending, (
        f"det.{package} must not import "
        + ", ".join(sorted(FORBIDDEN[package]))
        + ":\n"
        + "\n".join(offending)
    )


def test_resolver_sees_relative_and_lazy_imports(tmp_path):
    # The checker itself must catch the forms a cycle hides behind.
    pkg = tmp_path / "det" / "structures"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text(
        "from ..layers import mask_ops\n"
        "from .. import modeling\n"
        "from .boxes import Boxes\n"
        "def f():\n"
        "    import det.data.catalog\n"
        "    from det.layers.nms import nms\n"
    )
    found = sorted(t for _, t in _det_imports(pkg / "bad.py", root=tmp_path / "det"))
    assert found == ["data", "layers", "layers", "modeling", "structures"]
