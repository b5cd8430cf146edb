"""Where the built-in datasets live, and the errors raised when data is missing or malformed."""

from __future__ import annotations

import os

from det.utils.errors import UserError

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "ENV_DATASETS_ROOT",
    "get_datasets_root",
    "require_path",
]

ENV_DATASETS_ROOT = "DETECTRON2_DATASETS"
"""Environment variable holding the root of the built-in datasets (default ``./datasets``)."""


class DatasetError(UserError, ValueError):
    """A dataset file exists but its content is not what the loader expects."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A file or folder a dataset needs does not exist."""


def get_datasets_root() -> str:
    """Returns ``$DETECTRON2_DATASETS`` with ``~`` expanded, or ``"datasets"`` when unset."""
    return os.path.expanduser(os.environ.get(ENV_DATASETS_ROOT, "datasets"))


def require_path(path: str, dataset_name: str | None = None, hint: str = "") -> None:
    """Raises ``DatasetNotFoundError`` if ``path`` does not exist.

    Paths under the datasets root get one message pattern for every dataset, e.g.
    ``Dataset 'coco_2017_val' expects datasets/coco/annotations/instances_val2017.json (set
    DETECTRON2_DATASETS; it is unset, so the root is 'datasets'); not found.``

    Args:
        path: the file or folder expected.
        dataset_name: registered name of the dataset that needs the path, if any.
        hint: optional extra sentence, e.g. how to create the missing file.
    """
    if os.path.exists(path):
        return
    who = f"Dataset '{dataset_name}'" if dataset_name else "The dataset"
    root = get_datasets_root()
    where = missing_root = ""
    if _is_inside(path, root):
        if ENV_DATASETS_ROOT in os.environ:
            where = f" (set {ENV_DATASETS_ROOT}; it is '{os.environ[ENV_DATASETS_ROOT]}')"
        else:
            where = f" (set {ENV_DATASETS_ROOT}; it is unset, so the root is '{root}')"
        if not os.path.isdir(root):
            missing_root = f" The datasets root '{root}' itself does not exist."
    raise DatasetNotFoundError(
        f"{who} expects {path}{where}; not found.{missing_root}" + (f" {hint}" if hint else "")
    )


def _is_inside(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
