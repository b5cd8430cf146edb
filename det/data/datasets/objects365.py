"""Objects365 v2 (365 classes, boxes only): loading and registration.

Layout (the EVA-02 README's; the fork itself hard-codes ``./datasets/Objects365``)::

    $DETECTRON2_DATASETS/o365/annotations/zhiyuan_objv2_{train,val}.json
    $DETECTRON2_DATASETS/o365/images/patch0 ... patch50/*.jpg

The official JSONs name images ``images/v1/patch8/objects365_v1_00420917.jpg``. The loader
accepts both common ways to lay the files out under ``o365/images``: ``patch8/<file>`` (README,
also what the official archives unpack to) and ``v1/patch8/<file>`` (the JSON path kept as is).
It picks the one that exists for the first images of the JSON, so no per-image disk access is
needed.

Class names must match the official list (``builtin_meta.OBJECTS365_CLASS_NAMES``, typos
included); trailing spaces are ignored in the comparison because some copies of the JSON strip
them. The metadata always holds the official spelling.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import partial

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import OBJECTS365_CLASS_NAMES, get_objects365_meta
from .coco import build_records, read_json
from .paths import DatasetError, DatasetNotFoundError, require_path

__all__ = [
    "load_objects365_json",
    "register_objects365_instances",
    "check_objects365_categories",
    "OBJECTS365_MISSING_IMAGES",
]

logger = logging.getLogger(__name__)

OBJECTS365_MISSING_IMAGES = (
    "patch16/objects365_v2_00908726.jpg",
    "patch6/objects365_v1_00320532.jpg",
    "patch6/objects365_v1_00320534.jpg",
)
"""Images listed in the official v2 train JSON that the official archives do not contain
(mmdetection skips the same three); their records are dropped with a log line."""

_PROBE_IMAGES = 8


def check_objects365_categories(categories: Sequence[dict], json_file: str) -> None:
    """Raises ``DatasetError`` unless ``categories`` are the 365 official Objects365 v2 classes.

    Args:
        categories: the JSON's category entries (``id``, ``name``).
        json_file: the JSON's path, named in the error.
    """
    expected = {i + 1: name for i, name in enumerate(OBJECTS365_CLASS_NAMES)}
    found = {c["id"]: c["name"] for c in categories}
    problems = [
        f"id {cid}: JSON has '{found[cid]}', expected '{name}'"
        for cid, name in expected.items()
        if cid in found and found[cid].rstrip() != name.rstrip()
    ]
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"ids missing from the JSON: {missing[:10]}")
    if extra:
        problems.append(f"ids not in Objects365 v2: {extra[:10]}")
    if problems:
        raise DatasetError(
            f"{json_file}: the categories are not the 365 Objects365 v2 classes (names are "
            f"compared ignoring trailing spaces): {'; '.join(problems[:6])}"
            + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
            + "."
        )


def _candidates(image_root: str, file_name: str) -> list[str]:
    parts = file_name.replace("\\", "/").split("/")
    if parts[0] == "images":
        parts = parts[1:]
    return [
        os.path.join(image_root, *parts[-2:]),  # README layout: images/patchN/<file>
        os.path.join(image_root, *parts),  # the JSON path under images/: images/v1/patchN/<file>
    ]


def _choose_layout(image_root: str, images: Sequence[dict], dataset_name: str | None) -> int:
    tried = []
    for img in images[:_PROBE_IMAGES]:
        candidates = _candidates(image_root, img["file_name"])
        for layout, path in enumerate(candidates):
            if os.path.isfile(path):
                return layout
        tried.extend(candidates)
    if not images:
        return 0
    who = f"Dataset '{dataset_name}'" if dataset_name else "Objects365"
    raise DatasetNotFoundError(
        f"{who}: none of the first {min(len(images), _PROBE_IMAGES)} images of the JSON was "
        f"found under {image_root}. Expected the layout images/patchN/<file> (or "
        f"images/v1/patchN/<file>); tried e.g. {tried[:2]}."
    )


def _file_name(image_root: str, layout: int, img: dict) -> str:
    return _candidates(image_root, img["file_name"])[layout]


def load_objects365_json(
    json_file: str,
    image_root: str,
    dataset_name: str | None = None,
    extra_annotation_keys: Sequence[str] | None = None,
) -> list[dict]:
    """Loads an Objects365 v2 JSON (COCO format) into dataset dicts.

    Same record format and degenerate-box handling as ``load_coco_json``; ids 1..365 map to
    contiguous ids 0..364. The three images known to be absent from the official archives are
    dropped.

    Args:
        json_file: ``zhiyuan_objv2_{train,val}.json``.
        image_root: the ``o365/images`` folder.
        dataset_name: when given, its metadata gets the official class names and id mapping.
        extra_annotation_keys: annotation fields copied besides the standard ones (e.g.
            ``"isfake"``, ``"isreflected"``).

    Returns:
        list[dict]: one record per image.
    """
    require_path(json_file, dataset_name)
    require_path(image_root, dataset_name)
    data = read_json(json_file, dataset_name)
    check_objects365_categories(data.get("categories", []), json_file)
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).set(**get_objects365_meta())
    layout = _choose_layout(image_root, data["images"], dataset_name)
    file_name_fn: Callable[[dict], str] = partial(_file_name, image_root, layout)
    records = build_records(
        data,
        json_file,
        file_name_fn=file_name_fn,
        id_map={i + 1: i for i in range(len(OBJECTS365_CLASS_NAMES))},
        extra_annotation_keys=extra_annotation_keys,
    )
    missing = tuple(os.sep + os.path.normpath(p) for p in OBJECTS365_MISSING_IMAGES)
    kept = [r for r in records if not r["file_name"].endswith(missing)]
    if len(kept) != len(records):
        logger.info(
            f"Skipped {len(records) - len(kept)} images of {json_file} that the official "
            "Objects365 archives do not contain."
        )
    return kept


def register_objects365_instances(name: str, json_file: str, image_root: str) -> None:
    """Registers an Objects365 v2 split under ``name``; nothing is read now.

    Metadata: the 365 official ``thing_classes``, ``thing_colors``,
    ``thing_dataset_id_to_contiguous_id`` = ``{i + 1: i}``, ``evaluator_type="coco"``,
    ``json_file`` and ``image_root``.

    Args:
        name: dataset name, e.g. ``"objects365_val"``.
        json_file: path to ``zhiyuan_objv2_<split>.json``.
        image_root: the ``o365/images`` folder.
    """
    DatasetCatalog.register(name, partial(load_objects365_json, json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="coco", **get_objects365_meta()
    )
