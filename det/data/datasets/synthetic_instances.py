"""Synthetic COCO, LVIS and Objects365 instance datasets in their real on-disk layouts.

See ``det.data.datasets.synthetic`` (which re-exports these writers) for the overall design.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import partial

import numpy as np
import pycocotools.mask as mask_util

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import COCO_CATEGORIES, OBJECTS365_CLASS_NAMES, distinct_colors
from .coco import load_coco_json
from .synthetic_scenes import (
    ShapeObject,
    check_num_classes,
    check_split,
    draw_instance_scene,
    mask_to_uncompressed_rle,
    save_jpeg,
    save_json,
    scene_rng,
)

__all__ = [
    "DEMO_CATEGORIES",
    "register_synthetic_coco",
    "write_synthetic_coco",
    "write_synthetic_lvis",
    "write_synthetic_objects365",
]

DEMO_CATEGORIES: list[dict] = [
    {"id": c["id"], "name": c["name"], "color": c["color"]}
    for c in COCO_CATEGORIES
    if c["name"] in ("person", "car", "dog")
]
"""Three real COCO categories (ids 1, 3, 18) used by the demo dataset."""

# COCO split -> (image folder, annotation file, first image id). Image ids of different writers
# and splits never collide, so several datasets can share the coco/ image folders.
_COCO_SPLITS = {
    "train2017": ("train2017", "instances_train2017.json", 100_001),
    "val2017": ("val2017", "instances_val2017.json", 1),
    "test2017": ("test2017", "image_info_test2017.json", 200_001),
    "test-dev2017": ("test2017", "image_info_test-dev2017.json", 250_001),
}
_LVIS_SPLITS = {
    "train": 400_001,
    "val": 500_001,
    "val_5k": 520_001,
    "val_5k_cocofied": 540_001,
    "image_info_test_dev": 560_001,
    "image_info_test_challenge": 580_001,
}
_O365_SPLITS = {"train": 1, "val": 5_000_001}

_LICENSES = [{"id": 1, "name": "synthetic", "url": ""}]


def _info(
    kind: str,
    split: str,
    num_images: int,
    image_size: Sequence[int],
    seed: int,
    num_classes: int,
) -> dict:
    # The writer's arguments, so a registration can tell whether the files on disk are current.
    args = dict(
        split=split,
        num_images=num_images,
        image_size=list(image_size),
        seed=seed,
        num_classes=num_classes,
    )
    return {"description": f"det synthetic {kind} dataset", "version": "1.0", "det_args": args}


def _category_colors(cats: Sequence[dict]) -> list:
    return [c.get("color") or d for c, d in zip(cats, distinct_colors(len(cats)))]


def _draw_image(
    seed: int,
    kind: str,
    split: str,
    index: int,
    image_size: tuple[int, int],
    num_classes: int,
    colors: Sequence,
    crowd: bool,
) -> tuple[np.ndarray, list[ShapeObject]]:
    # Every 6th image (index 5, 11, ...) is empty; with ``crowd``, every 4th (index 1, 5, ...)
    # also gets a crowd region.
    return draw_instance_scene(
        scene_rng(seed, kind, split, index),
        *image_size,
        num_classes,
        colors,
        max_objects=0 if index % 6 == 5 else 4,
        crowd=crowd and index % 4 == 1,
    )


def _write_instances_json(
    path: str, info: dict, images: list, categories: list, annotations: list | None
) -> str:
    data = {"info": info, "licenses": _LICENSES, "images": images, "categories": categories}
    if annotations is not None:
        data["annotations"] = annotations
    save_json(data, path)
    return path


def _instance_annotation(
    obj: ShapeObject, ann_id: int, image_id: int, category_id: int, rle: bool
) -> dict:
    anno = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": obj.bbox_xywh(),
        "area": float(obj.mask.sum()),
        "iscrowd": obj.iscrowd,
    }
    if obj.iscrowd:
        anno["segmentation"] = mask_to_uncompressed_rle(obj.mask)
    elif rle:
        encoded = mask_util.encode(np.asfortranarray(obj.mask.astype(np.uint8)))
        anno["segmentation"] = {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}
    else:
        anno["segmentation"] = obj.polygons
    return anno


def write_synthetic_coco(
    root: str,
    split: str = "val2017",
    num_images: int = 8,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 3,
    categories: Sequence[dict] | None = None,
) -> str:
    """Writes a COCO-layout split: ``<root>/coco/<folder>/*.jpg`` + ``coco/annotations/*.json``.

    Every 6th image (index 5, 11, ...) has no objects; every 4th (index 1, 5, ...) also has a
    crowd region; one object in three is stored as compressed RLE, the others as polygons. Test
    splits (``test2017``, ``test-dev2017``) write an image-info JSON without annotations.

    Args:
        root: dataset root (what ``DETECTRON2_DATASETS`` points to).
        split: ``train2017``, ``val2017``, ``test2017`` or ``test-dev2017``.
        num_images: number of images.
        image_size: (H, W) of every image.
        seed: random seed.
        num_classes: objects use the first ``num_classes`` of ``categories``.
        categories: JSON categories (``id``, ``name``, optional ``color``); default the 80 COCO
            categories, as in the real files.

    Returns:
        path of the written JSON.
    """
    check_split(split, _COCO_SPLITS, "write_synthetic_coco")
    cats = list(categories) if categories is not None else COCO_CATEGORIES
    check_num_classes(num_classes, cats, "write_synthetic_coco")
    folder, json_name, first_id = _COCO_SPLITS[split]
    height, width = image_size
    colors = _category_colors(cats)
    has_annotations = not split.startswith("test")
    images, annotations = [], []
    for i in range(num_images):
        image_id = first_id + i
        file_name = f"{image_id:012d}.jpg"
        image, objects = _draw_image(seed, "coco", split, i, image_size, num_classes, colors, True)
        save_jpeg(image, os.path.join(root, "coco", folder, file_name))
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": height,
                "width": width,
                "license": 1,
                "coco_url": f"http://images.cocodataset.org/{folder}/{file_name}",
                "date_captured": "2013-11-14 17:02:52",
            }
        )
        for j, obj in enumerate(objects if has_annotations else []):
            annotations.append(
                _instance_annotation(
                    obj,
                    len(annotations) + 1,
                    image_id,
                    cats[obj.class_index]["id"],
                    (i + j) % 3 == 2,
                )
            )
    return _write_instances_json(
        os.path.join(root, "coco", "annotations", json_name),
        _info("coco", split, num_images, image_size, seed, num_classes),
        images,
        [
            {"supercategory": c.get("supercategory", "object"), "id": c["id"], "name": c["name"]}
            for c in cats
        ],
        annotations if has_annotations else None,
    )


def _lvis_categories(num_classes: int) -> list[dict]:
    cats = []
    for k in range(num_classes):
        name = COCO_CATEGORIES[k % 80]["name"].replace(" ", "_") + ("" if k < 80 else f"_{k}")
        cats.append(
            {
                "id": k + 1,
                "name": name,
                "synonyms": [name],
                "synset": f"{name}.n.01",
                "def": f"synthetic class {k}",
                "frequency": "fcr"[k % 3],
            }
        )
    return cats


def write_synthetic_lvis(
    root: str,
    split: str = "val",
    num_images: int = 8,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes an LVIS v1 split: ``<root>/lvis/lvis_v1_<split>.json`` + images under ``coco/``.

    Images are named by ``coco_url`` only, as in LVIS v1. Train images go to
    ``coco/train2017``; val images alternate between ``coco/val2017`` and ``coco/train2017``
    (LVIS v1 val uses both); ``image_info_*`` splits use ``coco/test2017`` and have no
    annotations. Categories carry ``synonyms``, ``frequency`` (f, c, r in turn) and
    ``image_count``/``instance_count`` counted on this split; images carry
    ``neg_category_ids`` and ``not_exhaustive_category_ids``. The ``*_cocofied`` split uses the
    80 COCO categories instead.

    Args:
        root: dataset root.
        split: ``train``, ``val``, ``val_5k``, ``val_5k_cocofied``, ``image_info_test_dev`` or
            ``image_info_test_challenge``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of LVIS categories (ids 1..num_classes); for the cocofied split,
            objects use the first ``num_classes`` COCO categories.

    Returns:
        path of the written JSON.
    """
    check_split(split, _LVIS_SPLITS, "write_synthetic_lvis")
    cocofied = split.endswith("cocofied")
    cats = [dict(c) for c in COCO_CATEGORIES] if cocofied else _lvis_categories(num_classes)
    check_num_classes(num_classes, cats, "write_synthetic_lvis")
    colors = _category_colors(cats)
    has_annotations = not split.startswith("image_info")
    height, width = image_size
    images, annotations = [], []
    image_count, instance_count = [0] * len(cats), [0] * len(cats)
    for i in range(num_images):
        image_id = _LVIS_SPLITS[split] + i
        if not has_annotations:
            folder = "test2017"
        elif split == "train":
            folder = "train2017"
        else:
            folder = "train2017" if i % 3 == 2 else "val2017"
        file_name = f"{image_id:012d}.jpg"
        image, objects = _draw_image(seed, "lvis", split, i, image_size, num_classes, colors, False)
        save_jpeg(image, os.path.join(root, "coco", folder, file_name))
        present = sorted({obj.class_index for obj in objects}) if has_annotations else []
        absent = [k for k in range(num_classes) if k not in present]
        images.append(
            {
                "id": image_id,
                "coco_url": f"http://images.cocodataset.org/{folder}/{file_name}",
                "height": height,
                "width": width,
                "license": 1,
                "date_captured": "2013-11-14 17:02:52",
                "flickr_url": "",
                "neg_category_ids": [cats[k]["id"] for k in absent[:1]],
                "not_exhaustive_category_ids": [cats[k]["id"] for k in present[:1] if i % 4 == 0],
            }
        )
        for obj in objects if has_annotations else []:
            anno = _instance_annotation(
                obj, len(annotations) + 1, image_id, cats[obj.class_index]["id"], rle=False
            )
            del anno["iscrowd"]  # LVIS annotations have no crowd flag
            annotations.append(anno)
            instance_count[obj.class_index] += 1
        for k in present:
            image_count[k] += 1
    if not cocofied:
        for k, c in enumerate(cats):
            c["image_count"], c["instance_count"] = image_count[k], instance_count[k]
    return _write_instances_json(
        os.path.join(root, "lvis", f"lvis_v1_{split}.json"),
        _info("lvis", split, num_images, image_size, seed, num_classes),
        images,
        [{k: v for k, v in c.items() if k != "color"} for c in cats],
        annotations if has_annotations else None,
    )


def write_synthetic_objects365(
    root: str,
    split: str = "val",
    num_images: int = 8,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 3,
    strip_trailing_spaces: bool = False,
    json_path_layout: bool = False,
) -> str:
    """Writes an Objects365 v2 split in the EVA-02 README layout (boxes only).

    JSON: ``<root>/o365/annotations/zhiyuan_objv2_<split>.json`` with the 365 official
    categories and ``file_name`` values like the official ones
    (``images/v1/patch0/objects365_v1_00000001.jpg``). Images: ``<root>/o365/images/patchN/``.

    Args:
        root: dataset root.
        split: ``train`` or ``val``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: objects use the first ``num_classes`` categories.
        strip_trailing_spaces: write category names without their official trailing spaces
            (as some re-exported JSONs have) to test that loading tolerates it.
        json_path_layout: store images at the JSON path under ``o365/`` instead
            (``o365/images/v1/patchN/``), the other layout the loader accepts.

    Returns:
        path of the written JSON.
    """
    check_split(split, _O365_SPLITS, "write_synthetic_objects365")
    check_num_classes(num_classes, OBJECTS365_CLASS_NAMES, "write_synthetic_objects365")
    colors = distinct_colors(num_classes)
    height, width = image_size
    images, annotations = [], []
    for i in range(num_images):
        image_id = _O365_SPLITS[split] + i
        version, patch = 1 + i % 2, i % 3
        base = f"objects365_v{version}_{image_id:08d}.jpg"
        rel = f"images/v{version}/patch{patch}/{base}"
        disk = rel if json_path_layout else f"images/patch{patch}/{base}"
        image, objects = _draw_image(seed, "o365", split, i, image_size, num_classes, colors, True)
        save_jpeg(image, os.path.join(root, "o365", *disk.split("/")))
        images.append(
            {
                "id": image_id,
                "file_name": rel,
                "height": height,
                "width": width,
                "license": 1,
                "url": "",
            }
        )
        for obj in objects:
            x, y, w, h = obj.bbox_xywh()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": obj.class_index + 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": obj.iscrowd,
                    "isfake": 0,
                    "isreflected": 0,
                }
            )
    names = [n.rstrip() if strip_trailing_spaces else n for n in OBJECTS365_CLASS_NAMES]
    # The official files have no "info" and this key order.
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
        "licenses": _LICENSES,
    }
    path = os.path.join(root, "o365", "annotations", f"zhiyuan_objv2_{split}.json")
    save_json(data, path)
    return path


# name -> arguments of its registration, so repeating a registration is a no-op.
_REGISTERED_SYNTHETIC: dict[str, tuple] = {}


def _ensure_synthetic_coco(args: tuple) -> str:
    root, split, categories, num_images, image_size, seed = args
    path = os.path.join(root, "coco", "annotations", _COCO_SPLITS[split][1])
    expected = _info("coco", split, num_images, image_size, seed, len(categories))
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if (
            data.get("info") == expected
            and data.get("categories")
            and [c["id"] for c in data["categories"]] == [c["id"] for c in categories]
        ):
            return path
    return write_synthetic_coco(
        root, split, num_images, image_size, seed, len(categories), categories
    )


def _load_synthetic_coco(name: str, args: tuple) -> list[dict]:
    path = _ensure_synthetic_coco(args)
    root, split = args[0], args[1]
    return load_coco_json(path, os.path.join(root, "coco", _COCO_SPLITS[split][0]), name)


def _synthetic_json_file(args: tuple) -> dict:
    return {"json_file": _ensure_synthetic_coco(args)}


def register_synthetic_coco(
    name: str,
    root: str,
    split: str = "train2017",
    categories: Sequence[dict] | None = None,
    num_images: int = 16,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
) -> None:
    """Registers a synthetic COCO-format dataset that is written under ``root`` on first use.

    Nothing is written now. ``DatasetCatalog.get(name)`` or reading
    ``MetadataCatalog.get(name).json_file`` (what COCOEvaluator does) writes the files with
    ``write_synthetic_coco`` unless an identical dataset is already there, so concurrent
    processes and repeated runs reuse it. Calling this again with the same arguments does
    nothing; with other arguments the registration is replaced.

    Args:
        name: dataset name, e.g. ``"synthetic_coco_train"``.
        root: folder to write ``coco/`` into.
        split: COCO split whose folder and file names are used (``train2017``, ``val2017``).
        categories: the JSON's categories (``id``, ``name``, optional ``color``), all used by
            objects; default ``DEMO_CATEGORIES`` (person, car, dog with their COCO ids).
        num_images, image_size, seed: as in ``write_synthetic_coco``.
    """
    cats = sorted(
        (dict(c) for c in (categories if categories is not None else DEMO_CATEGORIES)),
        key=lambda c: c["id"],
    )
    args = (
        root,
        split,
        tuple(tuple(sorted(c.items())) for c in cats),
        num_images,
        tuple(image_size),
        seed,
    )
    if _REGISTERED_SYNTHETIC.get(name) == args and name in DatasetCatalog:
        return
    check_split(split, _COCO_SPLITS, "register_synthetic_coco")
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    call_args = (root, split, cats, num_images, tuple(image_size), seed)
    DatasetCatalog.register(name, partial(_load_synthetic_coco, name, call_args))
    colors = _category_colors(cats)
    meta = MetadataCatalog.get(name).set(
        thing_classes=[c["name"] for c in cats],
        thing_colors=[tuple(c) for c in colors],
        thing_dataset_id_to_contiguous_id={c["id"]: i for i, c in enumerate(cats)},
        image_root=os.path.join(root, "coco", _COCO_SPLITS[split][0]),
        evaluator_type="coco",
    )
    meta.set_lazy(["json_file"], partial(_synthetic_json_file, call_args))
    _REGISTERED_SYNTHETIC[name] = args
