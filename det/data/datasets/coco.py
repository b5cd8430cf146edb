"""COCO-format instance annotations: loading, registering, and exporting back to COCO JSON.

Glossary: a *record* is one dataset dict (one image) in the standard format of DESIGN.md; an
*annotation* is one object of a record: ``bbox`` (XYWH absolute pixels, ``bbox_mode`` =
``BoxMode.XYWH_ABS``), ``category_id`` (contiguous 0..K-1 when a dataset name is given),
``iscrowd``, and optionally ``segmentation`` (a list of flat polygons ``[x0, y0, x1, y1, ...]``
or a compressed RLE dict ``{"size": [H, W], "counts": str}``).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import pycocotools.mask as mask_util

from det.structures import BoxMode

from ..catalog import DatasetCatalog, MetadataCatalog
from .paths import DatasetError, require_path

__all__ = [
    "load_coco_json",
    "register_coco_instances",
    "convert_to_coco_dict",
    "convert_to_coco_json",
    "read_json",
    "set_thing_classes",
    "build_records",
]

logger = logging.getLogger(__name__)


def load_coco_json(
    json_file: str,
    image_root: str,
    dataset_name: str | None = None,
    extra_annotation_keys: Sequence[str] | None = None,
) -> list[dict]:
    """Loads a COCO instances JSON into dataset dicts.

    Every image of the JSON gives one record, including images without annotations (evaluation
    needs them; training filters them later). Annotations that cannot describe an object are
    dropped and counted in one warning: boxes with zero or negative width/height, and objects
    whose polygons all have fewer than 3 points. Polygons with fewer than 3 points next to valid
    ones are removed from their object. An empty ``segmentation`` list means "no mask" (the box
    is kept). Uncompressed RLE (crowd regions) is converted to compressed RLE.

    Args:
        json_file: path to a COCO-format JSON (``images``, ``annotations``, ``categories``).
        image_root: folder that the images' ``file_name`` values are relative to; "" keeps
            the JSON's file names unchanged (and is not checked).
        dataset_name: when given, category ids are mapped to contiguous ids 0..K-1 (in order of
            increasing id) and the metadata of this dataset gets ``thing_classes`` and
            ``thing_dataset_id_to_contiguous_id``; they must agree with values already set.
            When None, ``category_id`` keeps the JSON's ids (detectron2's behaviour).
        extra_annotation_keys: annotation fields copied into the dicts besides ``iscrowd``,
            ``bbox``, ``category_id`` and ``segmentation``.

    Returns:
        list[dict]: one record per image with ``file_name``, ``height``, ``width``,
        ``image_id`` and ``annotations``.

    Raises:
        DatasetNotFoundError: ``json_file`` or a non-empty ``image_root`` does not exist.
        DatasetError: the JSON is malformed, an annotation references an image id or category
            id that the JSON does not define, or annotation ids repeat.
    """
    require_path(json_file, dataset_name)
    # An empty image_root keeps file names as written (detectron2 allows it, e.g. for
    # round-trips through convert_to_coco_dict).
    if image_root:
        require_path(image_root, dataset_name)
    data = read_json(json_file, dataset_name)
    categories = sorted(data.get("categories", []), key=lambda c: c["id"])
    id_map = None
    if dataset_name is not None:
        id_map = set_thing_classes(
            dataset_name, [c["name"] for c in categories], [c["id"] for c in categories], json_file
        )
    return build_records(
        data,
        json_file,
        file_name_fn=lambda img: os.path.join(image_root, img["file_name"]),
        id_map=id_map,
        extra_annotation_keys=extra_annotation_keys,
        unique_annotation_ids=True,
    )


def read_json(json_file: str, dataset_name: str | None = None) -> dict:
    """Reads a dataset JSON file, with errors that name the file (and the dataset)."""
    owner = f"Dataset '{dataset_name}': " if dataset_name else ""
    require_path(json_file, dataset_name)
    start = time.perf_counter()
    try:
        with open(json_file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{owner}{json_file} is not valid JSON: {e}") from e
    if not isinstance(data, dict) or "images" not in data:
        raise DatasetError(
            f"{owner}{json_file} is not a COCO-format JSON: expected an object with an "
            "'images' list (and 'annotations', 'categories')."
        )
    seconds = time.perf_counter() - start
    if seconds > 1:
        logger.info(f"Loading {json_file} took {seconds:.2f} seconds.")
    return data


def set_thing_classes(
    dataset_name: str, names: list[str], ids: list[int], json_file: str
) -> dict[int, int]:
    """Sets ``thing_classes`` / ``thing_dataset_id_to_contiguous_id`` of a dataset from a JSON.

    Args:
        dataset_name: dataset whose metadata is set.
        names: category names sorted by id.
        ids: the matching category ids.
        json_file: the JSON they come from (named in errors).

    Returns:
        dict: category id -> contiguous id.

    Raises:
        DatasetError: the metadata already holds different classes or a different mapping.
    """
    meta = MetadataCatalog.get(dataset_name)
    id_map = {cid: i for i, cid in enumerate(ids)}
    known = meta.get("thing_classes")
    if known is not None and list(known) != list(names):
        diffs = [
            f"#{i}: JSON '{a}' vs registered '{b}'"
            for i, (a, b) in enumerate(zip(names, known))
            if a != b
        ]
        raise DatasetError(
            f"{json_file} defines {len(names)} categories but dataset '{dataset_name}' was "
            f"registered with {len(known)} thing_classes that differ"
            + (f" ({'; '.join(diffs[:5])})" if diffs else "")
            + ". Register the dataset with the JSON's categories, or fix the JSON."
        )
    known_map = meta.get("thing_dataset_id_to_contiguous_id")
    if known_map is not None and dict(known_map) != id_map:
        raise DatasetError(
            f"{json_file} has category ids {ids[:10]}{'...' if len(ids) > 10 else ''} but "
            f"dataset '{dataset_name}' was registered with thing_dataset_id_to_contiguous_id "
            f"for ids {sorted(known_map)[:10]}; they must be the same."
        )
    meta.thing_classes = list(names)
    meta.thing_dataset_id_to_contiguous_id = id_map
    return id_map


def build_records(
    data: dict,
    json_file: str,
    file_name_fn: Callable[[dict], str],
    id_map: dict[int, int] | Callable[[int], int] | None,
    extra_annotation_keys: Sequence[str] | None = None,
    image_keys: Sequence[str] = (),
    unique_annotation_ids: bool = False,
) -> list[dict]:
    """Turns a parsed COCO-style JSON into records (shared by the COCO, LVIS, O365 loaders).

    Args:
        data: the parsed JSON.
        json_file: its path, named in errors and logs.
        file_name_fn: image entry -> absolute image path.
        id_map: category id -> contiguous id (dict or function); None keeps the ids.
        extra_annotation_keys: annotation fields copied as they are.
        image_keys: image fields copied into the record (e.g. LVIS's ``neg_category_ids``).
        unique_annotation_ids: raise if two annotations share an ``id``.

    Returns:
        list[dict]: records in the order of ``data["images"]``.
    """
    records, by_id = [], {}
    for img in data["images"]:
        try:
            record = {
                "file_name": file_name_fn(img),
                "height": int(img["height"]),
                "width": int(img["width"]),
                "image_id": img["id"],
            }
        except KeyError as e:
            raise DatasetError(
                f"{json_file}: image entry {_short(img)} lacks the field {e}; every image needs "
                "'id', 'file_name' (or 'coco_url' for LVIS), 'height' and 'width'."
            ) from e
        for key in image_keys:
            if key in img:
                record[key] = img[key]
        record["annotations"] = []
        records.append(record)
        by_id[img["id"]] = record
    if len(by_id) != len(records):
        raise DatasetError(f"{json_file}: image ids are not unique.")

    annotations = data.get("annotations", [])
    if unique_annotation_ids:
        ann_ids = [a["id"] for a in annotations if "id" in a]
        if len(set(ann_ids)) != len(ann_ids):
            raise DatasetError(f"{json_file}: annotation ids are not unique.")

    keys = ("iscrowd", "bbox", "category_id") + tuple(extra_annotation_keys or ())
    stats = {"box": 0, "polygon_object": 0, "polygon": 0}
    missing_images = []
    map_category = _category_mapper(id_map, json_file)
    for anno in annotations:
        record = by_id.get(anno.get("image_id"))
        if record is None:
            missing_images.append(anno.get("image_id"))
            continue
        obj = _parse_annotation(anno, keys, json_file, stats)
        if obj is None:
            continue
        if map_category is not None:
            obj["category_id"] = map_category(obj["category_id"])
        record["annotations"].append(obj)

    if missing_images:
        raise DatasetError(
            f"{json_file}: {len(missing_images)} annotations reference image ids that are not "
            f"in its 'images' list (first: {missing_images[:5]})."
        )
    _log_dropped(json_file, stats)
    logger.info(f"Loaded {len(records)} images ({len(annotations)} annotations) from {json_file}")
    return records


def _category_mapper(
    id_map: dict[int, int] | Callable[[int], int] | None, json_file: str
) -> Callable[[int], int] | None:
    if id_map is None or callable(id_map):
        return id_map

    def lookup(cid: int) -> int:
        try:
            return id_map[cid]
        except KeyError:
            raise DatasetError(
                f"{json_file}: an annotation has category_id {cid}, which is not among the "
                f"ids of its 'categories' ({sorted(id_map)[:10]}"
                f"{'...' if len(id_map) > 10 else ''})."
            ) from None

    return lookup


def _parse_annotation(anno: dict, keys: tuple, json_file: str, stats: dict) -> dict | None:
    """One JSON annotation -> annotation dict, or None when it is degenerate (counted)."""
    if anno.get("ignore", 0) != 0:
        raise DatasetError(
            f"{json_file}: annotation {anno.get('id')} has 'ignore' set, which is not supported; "
            "remove those annotations or mark them iscrowd=1."
        )
    bbox = anno.get("bbox")
    if bbox is None or len(bbox) != 4:
        raise DatasetError(
            f"{json_file}: annotation {anno.get('id')} needs 'bbox' = [x, y, w, h]; got {bbox!r}."
        )
    if not (bbox[2] > 0 and bbox[3] > 0):
        stats["box"] += 1
        return None
    if "category_id" not in anno:
        raise DatasetError(f"{json_file}: annotation {anno.get('id')} has no 'category_id'.")
    obj = {k: anno[k] for k in keys if k in anno}
    obj.setdefault("iscrowd", 0)
    obj["bbox_mode"] = BoxMode.XYWH_ABS
    segm = anno.get("segmentation")
    if isinstance(segm, dict):
        obj["segmentation"] = _compressed_rle(segm, anno, json_file)
    elif segm:
        polygons = [p for p in segm if len(p) % 2 == 0 and len(p) >= 6]
        if not polygons:
            stats["polygon_object"] += 1
            return None
        stats["polygon"] += len(segm) - len(polygons)
        obj["segmentation"] = polygons
    return obj


def _compressed_rle(segm: dict, anno: dict, json_file: str) -> dict:
    if "counts" not in segm or "size" not in segm:
        raise DatasetError(
            f"{json_file}: annotation {anno.get('id')} has an RLE segmentation without "
            "'counts' and 'size'."
        )
    if isinstance(segm["counts"], list):
        rle = mask_util.frPyObjects(segm, *segm["size"])
        return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
    return segm


def _log_dropped(json_file: str, stats: dict) -> None:
    dropped = stats["box"] + stats["polygon_object"]
    if dropped:
        logger.warning(
            f"Dropped {dropped} degenerate annotations from {json_file}: {stats['box']} with a "
            f"box of zero width or height, {stats['polygon_object']} whose polygons all have "
            "fewer than 3 points."
        )
    if stats["polygon"]:
        logger.warning(
            f"Removed {stats['polygon']} polygons with fewer than 3 points from annotations of "
            f"{json_file} that keep other polygons."
        )


def _short(obj: dict, limit: int = 120) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def register_coco_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Registers a COCO-format instance dataset under ``name``.

    Nothing is read now: ``DatasetCatalog.get(name)`` calls ``load_coco_json``. The metadata
    gets ``json_file``, ``image_root``, ``evaluator_type="coco"`` and ``metadata``'s fields;
    ``thing_classes`` can be left out, it is filled from the JSON when it is loaded.

    Args:
        name: dataset name, e.g. ``"my_dataset_train"``.
        metadata: extra metadata, e.g. ``{"thing_colors": [...]}``; may be empty.
        json_file: path to the COCO-format JSON.
        image_root: folder that the images' ``file_name`` values are relative to.
    """
    if not isinstance(name, str):
        raise TypeError(f"register_coco_instances: name must be a str, got {type(name)}")
    DatasetCatalog.register(name, lambda: load_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="coco", **metadata
    )


def _annotation_area(obj: dict) -> float:
    segm = obj.get("segmentation")
    if isinstance(segm, list) and segm:
        return float(sum(_shoelace(np.asarray(p, dtype=np.float64)) for p in segm))
    if isinstance(segm, dict):
        rle = segm
        if isinstance(rle["counts"], list):
            rle = mask_util.frPyObjects(rle, *rle["size"])
        return float(mask_util.area(rle))
    x0, y0, x1, y1 = BoxMode.convert(list(obj["bbox"]), obj["bbox_mode"], BoxMode.XYXY_ABS)
    return float(max(x1 - x0, 0.0) * max(y1 - y0, 0.0))


def _shoelace(flat: np.ndarray) -> float:
    x, y = flat[0::2], flat[1::2]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def convert_to_coco_dict(dataset_name: str) -> dict:
    """Converts a registered instance dataset to a COCO-format dict (e.g. for COCOEvaluator).

    Category ids are mapped back through ``thing_dataset_id_to_contiguous_id`` when the metadata
    has it, else contiguous id ``i`` becomes ``i``. Areas are the polygon areas (shoelace), the
    RLE pixel counts, or the box areas for objects without masks, as detectron2 computes them.

    Args:
        dataset_name: a name registered in ``DatasetCatalog`` whose records have
            ``annotations`` and whose metadata has ``thing_classes``.

    Returns:
        dict with ``info``, ``images``, ``annotations``, ``categories`` and ``licenses``.
    """
    records = DatasetCatalog.get(dataset_name)
    meta = MetadataCatalog.get(dataset_name)
    if hasattr(meta, "thing_dataset_id_to_contiguous_id"):
        reverse = {v: k for k, v in meta.thing_dataset_id_to_contiguous_id.items()}
    else:
        reverse = {i: i for i in range(len(meta.thing_classes))}
    categories = [{"id": reverse[i], "name": n} for i, n in enumerate(meta.thing_classes)]

    images, annotations = [], []
    for index, record in enumerate(records):
        image_id = record.get("image_id", index)
        images.append(
            {
                "id": image_id,
                "width": int(record["width"]),
                "height": int(record["height"]),
                "file_name": str(record["file_name"]),
            }
        )
        for obj in record.get("annotations", []):
            bbox = BoxMode.convert(list(obj["bbox"]), obj["bbox_mode"], BoxMode.XYWH_ABS)
            coco_obj = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "bbox": [round(float(v), 3) for v in bbox],
                "area": _annotation_area(obj),
                "iscrowd": int(obj.get("iscrowd", 0)),
                "category_id": int(reverse[obj["category_id"]]),
            }
            segm = obj.get("segmentation")
            if isinstance(segm, dict):
                counts = segm["counts"]
                if isinstance(counts, bytes):
                    segm = {"size": list(segm["size"]), "counts": counts.decode("ascii")}
                coco_obj["segmentation"] = segm
            elif segm:
                coco_obj["segmentation"] = [[float(v) for v in p] for p in segm]
            annotations.append(coco_obj)

    info = {
        "date_created": str(datetime.datetime.now()),
        "description": f"COCO-format ground truth of '{dataset_name}', written by det.",
    }
    logger.info(
        f"Converted '{dataset_name}' to COCO format: {len(images)} images, "
        f"{len(annotations)} annotations."
    )
    return {
        "info": info,
        "images": images,
        "annotations": annotations,
        "categories": categories,
        "licenses": [],
    }


def convert_to_coco_json(dataset_name: str, output_file: str, allow_cached: bool = True) -> None:
    """Writes ``convert_to_coco_dict(dataset_name)`` to ``output_file``.

    The file is written to a temporary name and renamed, so concurrent processes never read a
    partial file.

    Args:
        dataset_name: registered instance dataset.
        output_file: JSON path to write.
        allow_cached: keep an existing ``output_file`` instead of rewriting it.
    """
    if allow_cached and os.path.exists(output_file):
        logger.info(f"Using the cached COCO-format annotations of '{dataset_name}': {output_file}")
        return
    coco_dict = convert_to_coco_dict(dataset_name)
    os.makedirs(os.path.dirname(os.path.abspath(output_file)), exist_ok=True)
    tmp = f"{output_file}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(coco_dict, f)
    os.replace(tmp, output_file)
    logger.info(f"Wrote COCO-format annotations of '{dataset_name}' to {output_file}")
