"""LVIS instance annotations (v1): loading, registering and class metadata.

LVIS images are COCO 2017 images. Each LVIS image entry names its file through ``coco_url``
(``http://images.cocodataset.org/<split>/<file>``), resolved to ``<image_root>/<split>/<file>``;
LVIS v1 *val* uses images from both ``train2017`` and ``val2017``.

Class metadata of the built-in ``lvis_v1_*`` splits (``thing_classes``, ``class_image_count``,
``frequency_groups``, ``thing_dataset_id_to_contiguous_id``) comes from the category table
shipped with det (``metadata/lvis_v1_categories.json``, as detectron2 ships it in
``lvis_v1_categories.py``; see :func:`get_lvis_instances_meta`), so an LVIS model (federated
loss weights included) builds without ``lvis_v1_train.json`` on disk and ``--eval-only`` needs
only the val JSON. Other LVIS-format datasets registered without metadata get a lazy loader
that reads those fields from their JSON's ``categories`` the first time one is accessed (a fast
partial read that skips images and annotations) or when the dataset is loaded; without the JSON
that access raises ``DatasetNotFoundError``.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
from collections.abc import Sequence
from functools import partial

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import read_shipped_categories
from .coco import build_records, read_json
from .paths import DatasetError, require_path

__all__ = [
    "load_lvis_json",
    "register_lvis_instances",
    "read_json_categories",
    "get_lvis_metadata",
    "get_lvis_instances_meta",
    "LVIS_METADATA_KEYS",
]

logger = logging.getLogger(__name__)

LVIS_METADATA_KEYS = (
    "thing_classes",
    "thing_dataset_id_to_contiguous_id",
    "class_image_count",
    "frequency_groups",
)
"""Metadata fields derived from an LVIS JSON's ``categories``."""

_LVIS_IMAGE_KEYS = ("not_exhaustive_category_ids", "neg_category_ids")


def get_lvis_metadata(categories: Sequence[dict]) -> dict:
    """Builds LVIS metadata from the ``categories`` of an LVIS JSON.

    Args:
        categories: LVIS category entries (``id``, ``name``, ``synonyms``, and in the train/val
            JSONs ``image_count`` and ``frequency``).

    Returns:
        dict with ``thing_classes`` (first synonym of each category, by id),
        ``thing_dataset_id_to_contiguous_id`` (id -> index; id - 1 for LVIS v1), and when the
        categories carry them, ``class_image_count`` (``[{"id", "image_count"}]`` by id, for the
        federated loss) and ``frequency_groups`` (``{"r"|"c"|"f": [contiguous ids]}``).
    """
    cats = sorted(categories, key=lambda c: c["id"])
    meta = {
        "thing_classes": [(c.get("synonyms") or [c["name"]])[0] for c in cats],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(cats)},
    }
    if cats and all("image_count" in c for c in cats):
        meta["class_image_count"] = [{"id": c["id"], "image_count": c["image_count"]} for c in cats]
    if cats and all("frequency" in c for c in cats):
        groups = {"r": [], "c": [], "f": []}
        for i, c in enumerate(cats):
            if c["frequency"] not in groups:
                raise DatasetError(
                    f"LVIS category {c['id']} has frequency {c['frequency']!r}; expected "
                    "'r', 'c' or 'f'."
                )
            groups[c["frequency"]].append(i)
        meta["frequency_groups"] = groups
    return meta


def get_lvis_instances_meta(dataset_name: str) -> dict:
    """Metadata of a built-in LVIS split from the shipped category table (no file on disk).

    Args:
        dataset_name: an LVIS v1 split name (``"lvis_v1_train"``, ``"lvis_v1_val"``, ...).

    Returns:
        dict of :func:`get_lvis_metadata` for the 1203 LVIS v1 categories: ``thing_classes``,
        ``thing_dataset_id_to_contiguous_id`` (id -> id - 1), ``class_image_count`` (training
        image counts) and ``frequency_groups``.

    Raises:
        DatasetError: for a name that is not an LVIS v1 split (det ships no other table).
    """
    if not dataset_name.startswith("lvis_v1"):
        raise DatasetError(
            f"get_lvis_instances_meta: no shipped category table for '{dataset_name}'; "
            "expected an LVIS v1 split ('lvis_v1_*')"
        )
    return get_lvis_metadata(read_shipped_categories("lvis_v1_categories.json"))


_CATEGORIES_KEY = re.compile(rb'"categories"\s*:\s*\[')


def read_json_categories(json_file: str) -> list[dict]:
    """Reads only the top-level ``categories`` list of a (possibly multi-GB) dataset JSON.

    The file is memory-mapped and searched for the ``"categories"`` key; only the list after it
    is decoded. Inside JSON strings a quote is always escaped, so the pattern can only match a
    real key; a nested ``categories`` key elsewhere would be rejected by the shape check and the
    whole file parsed instead.

    Args:
        json_file: path to an LVIS or COCO style JSON.

    Returns:
        list of category dicts (empty if the JSON has none).
    """
    require_path(json_file)
    if os.path.getsize(json_file) == 0:
        raise DatasetError(f"{json_file} is empty; expected a JSON object with 'categories'.")
    decoder = json.JSONDecoder()
    with open(json_file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for match in _CATEGORIES_KEY.finditer(mm):
            start = match.end() - 1
            size = 1 << 20
            while True:
                chunk = mm[start : start + size].decode("utf-8", errors="replace")
                try:
                    value, _ = decoder.raw_decode(chunk)
                    break
                except json.JSONDecodeError:
                    if start + size >= len(mm):
                        value = None
                        break
                    size *= 4
            if isinstance(value, list) and all(isinstance(c, dict) and "id" in c for c in value):
                return value
    return read_json(json_file).get("categories", [])


def _lazy_lvis_metadata(json_file: str, dataset_name: str) -> dict:
    require_path(json_file, dataset_name)
    return get_lvis_metadata(read_json_categories(json_file))


def _lvis_file_name(image_root: str, img: dict) -> str:
    if "coco_url" in img:
        # ".../val2017/000000000139.jpg" -> <image_root>/val2017/000000000139.jpg
        split_folder, file_name = img["coco_url"].split("/")[-2:]
        return os.path.join(image_root, split_folder, file_name)
    return os.path.join(image_root, img["file_name"])


def load_lvis_json(
    json_file: str,
    image_root: str,
    dataset_name: str | None = None,
    extra_annotation_keys: Sequence[str] | None = None,
) -> list[dict]:
    """Loads an LVIS-format JSON into dataset dicts.

    Same record format and degenerate-annotation handling as ``load_coco_json``. Records also
    carry ``not_exhaustive_category_ids`` and ``neg_category_ids`` converted to contiguous ids.

    Args:
        json_file: path to an LVIS JSON (``lvis_v1_{train,val}.json`` or an image-info JSON).
        image_root: the COCO image folder; ``coco_url`` picks ``train2017`` or ``val2017``.
        dataset_name: when given, its metadata gets the LVIS fields of
            ``get_lvis_metadata`` (unless a ``thing_dataset_id_to_contiguous_id`` was
            registered explicitly, as for the COCO-80 "cocofied" split, which is then used).
            When None, contiguous id = LVIS id - 1.
        extra_annotation_keys: annotation fields copied besides the standard ones.

    Returns:
        list[dict]: one record per image.
    """
    require_path(json_file, dataset_name)
    require_path(image_root, dataset_name)
    data = read_json(json_file, dataset_name)
    categories = data.get("categories", [])
    if dataset_name is not None:
        meta = MetadataCatalog.get(dataset_name)
        registered = meta.as_dict().get("thing_dataset_id_to_contiguous_id")
        if registered is not None:
            id_map = dict(registered)
        else:
            lvis_meta = get_lvis_metadata(categories)
            meta.set(**lvis_meta)
            id_map = lvis_meta["thing_dataset_id_to_contiguous_id"]
        map_id = partial(_map_id, id_map, json_file)
    else:
        map_id = _minus_one

    records = build_records(
        data,
        json_file,
        file_name_fn=partial(_lvis_file_name, image_root),
        id_map=map_id,
        extra_annotation_keys=extra_annotation_keys,
        image_keys=_LVIS_IMAGE_KEYS,
    )
    for record in records:
        for key in _LVIS_IMAGE_KEYS:
            record[key] = [map_id(cid) for cid in record.get(key, [])]
    return records


def _minus_one(cid: int) -> int:
    return cid - 1


def _map_id(id_map: dict[int, int], json_file: str, cid: int) -> int:
    try:
        return id_map[cid]
    except KeyError:
        raise DatasetError(
            f"{json_file}: category id {cid} is used but not among the dataset's "
            f"{len(id_map)} categories."
        ) from None


def register_lvis_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Registers an LVIS-format dataset under ``name``; nothing is read now.

    The metadata gets ``json_file``, ``image_root``, ``evaluator_type="lvis"``, the fields of
    ``metadata``, and a lazy loader for the ``LVIS_METADATA_KEYS`` not given in ``metadata``.

    Args:
        name: dataset name, e.g. ``"lvis_v1_train"``.
        metadata: extra metadata (may be empty; e.g. COCO-80 classes for a cocofied split).
        json_file: path to the LVIS JSON.
        image_root: COCO image folder (containing ``train2017/`` and ``val2017/``).
    """
    DatasetCatalog.register(name, partial(load_lvis_json, json_file, image_root, name))
    meta = MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="lvis", **metadata
    )
    lazy_keys = [k for k in LVIS_METADATA_KEYS if k not in metadata]
    if "thing_dataset_id_to_contiguous_id" not in metadata:
        meta.set_lazy(lazy_keys, partial(_lazy_lvis_metadata, json_file, name))
