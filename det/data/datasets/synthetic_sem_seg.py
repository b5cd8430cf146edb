"""Synthetic ADE20K and COCO-Stuff-164K splits in their real on-disk layouts.

See ``det.data.datasets.synthetic`` (which re-exports these writers) for the overall design.
"""

from __future__ import annotations

import json
import os
from functools import partial

import numpy as np

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import (
    ADE20K_SEM_SEG_CATEGORIES,
    COCO_STUFF_CATEGORIES,
    distinct_colors,
    get_ade20k_sem_seg_meta,
)
from .coco_stuff import LABEL_DIR, RAW_LABEL_DIR, prepare_coco_stuff_sem_seg
from .sem_seg import load_sem_seg
from .synthetic_scenes import (
    check_num_classes,
    check_split,
    draw_semseg_scene,
    save_jpeg,
    save_json,
    save_png,
    scene_rng,
)

__all__ = ["register_synthetic_ade20k", "write_synthetic_ade20k", "write_synthetic_coco_stuff"]

_ADE_SPLITS = {"training": "train", "validation": "val"}
_STUFF_SPLITS = {"train2017": 700_001, "val2017": 800_001}


def _spread(num_classes: int, total: int) -> list[int]:
    return [int(v) for v in np.linspace(0, total - 1, num_classes).round()]


def write_synthetic_ade20k(
    root: str,
    split: str = "validation",
    num_images: int = 4,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes an ADE20K split: ``<root>/ADEChallengeData2016/{images,annotations}/<split>/``.

    Images ``ADE_<train|val>_%08d.jpg``; annotation PNGs of the same stem hold raw ADE labels:
    0 = other (unlabeled), class c (0-based) stored as c + 1.

    Args:
        root: dataset root.
        split: ``training`` or ``validation``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of classes drawn, spread over the 150 ADE classes.

    Returns:
        the ``ADEChallengeData2016`` folder.
    """
    check_split(split, _ADE_SPLITS, "write_synthetic_ade20k")
    check_num_classes(num_classes, ADE20K_SEM_SEG_CATEGORIES, "write_synthetic_ade20k")
    class_ids = _spread(num_classes, len(ADE20K_SEM_SEG_CATEGORIES))
    colors = [distinct_colors(1, offset=c)[0] for c in class_ids]
    base = os.path.join(root, "ADEChallengeData2016")
    for i in range(num_images):
        stem = f"ADE_{_ADE_SPLITS[split]}_{i + 1:08d}"
        image, labels = draw_semseg_scene(
            scene_rng(seed, "ade", split, i), *image_size, num_classes, colors
        )
        raw = np.zeros(labels.shape, dtype=np.uint8)
        for k, c in enumerate(class_ids):
            raw[labels == k] = c + 1
        save_jpeg(image, os.path.join(base, "images", split, stem + ".jpg"))
        save_png(raw, os.path.join(base, "annotations", split, stem + ".png"))
    return base


def write_synthetic_coco_stuff(
    root: str,
    split: str = "val2017",
    num_images: int = 4,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes a COCO-Stuff-164K split and converts it as ``prepare_coco_stuff_sem_seg`` does.

    Writes ``<root>/coco/<split>/*.jpg``, the raw ``coco/stuffthingmaps_trainval2017/<split>/``
    PNGs (pixel = COCO-Stuff id - 1, 255 = unlabeled) and, through the real conversion,
    ``coco/stuffthingmaps_detectron2/<split>/`` (contiguous ids).

    Args:
        root: dataset root.
        split: ``train2017`` or ``val2017``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of classes drawn, spread over the 171 classes (things and stuff).

    Returns:
        the ``coco`` folder.
    """
    check_split(split, _STUFF_SPLITS, "write_synthetic_coco_stuff")
    check_num_classes(num_classes, COCO_STUFF_CATEGORIES, "write_synthetic_coco_stuff")
    contiguous = _spread(num_classes, len(COCO_STUFF_CATEGORIES))
    colors = [COCO_STUFF_CATEGORIES[c]["color"] for c in contiguous]
    coco_root = os.path.join(root, "coco")
    for i in range(num_images):
        stem = f"{_STUFF_SPLITS[split] + i:012d}"
        image, labels = draw_semseg_scene(
            scene_rng(seed, "coco_stuff", split, i), *image_size, num_classes, colors
        )
        raw = np.full(labels.shape, 255, dtype=np.uint8)
        for k, c in enumerate(contiguous):
            raw[labels == k] = COCO_STUFF_CATEGORIES[c]["id"] - 1
        save_jpeg(image, os.path.join(coco_root, split, stem + ".jpg"))
        save_png(raw, os.path.join(coco_root, RAW_LABEL_DIR, split, stem + ".png"))
        converted = os.path.join(coco_root, LABEL_DIR, split, stem + ".png")
        if os.path.exists(converted):
            os.remove(converted)  # stale output of an earlier call with other arguments
    prepare_coco_stuff_sem_seg(coco_root, (split,))
    return coco_root


def _ensure_synthetic_ade20k(root: str, split: str, args: dict) -> None:
    # A marker written after the last file: a half-written folder (a killed run, another
    # process still writing) is rewritten instead of being read.
    marker = os.path.join(root, "ADEChallengeData2016", f".det_synthetic_{split}.json")
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) == args:
                return
    write_synthetic_ade20k(root, split, **args)
    save_json(args, marker)


def _load_synthetic_ade20k(name: str, root: str, split: str, args: dict) -> list[dict]:
    _ensure_synthetic_ade20k(root, split, args)
    base = os.path.join(root, "ADEChallengeData2016")
    return load_sem_seg(
        os.path.join(base, "annotations", split),
        os.path.join(base, "images", split),
        reduce_zero_label=True,
        dataset_name=name,
    )


def register_synthetic_ade20k(
    name: str,
    root: str,
    split: str = "training",
    num_images: int = 16,
    image_size: tuple[int, int] = (128, 160),
    seed: int = 0,
    num_classes: int = 6,
) -> None:
    """Registers a synthetic ADE20K-layout split that is written under ``root`` on first use.

    The metadata is ADE20K's (150 ``stuff_classes``, ``ignore_label=255``,
    ``reduce_zero_label=True``, ``evaluator_type="sem_seg"``), so the real ADE20K configs,
    mapper and evaluator run on it unchanged. Re-registering an existing name replaces it.

    Args:
        name: dataset name, e.g. ``"synthetic_ade20k_sem_seg_train"``.
        root: folder to write ``ADEChallengeData2016/`` into.
        split: ``training`` or ``validation``.
        num_images, image_size, seed, num_classes: as in ``write_synthetic_ade20k``.
    """
    check_split(split, _ADE_SPLITS, "register_synthetic_ade20k")
    args = dict(
        num_images=num_images, image_size=list(image_size), seed=seed, num_classes=num_classes
    )
    base = os.path.join(root, "ADEChallengeData2016")
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    DatasetCatalog.register(name, partial(_load_synthetic_ade20k, name, root, split, args))
    MetadataCatalog.get(name).set(
        **get_ade20k_sem_seg_meta(),
        ignore_label=255,
        evaluator_type="sem_seg",
        reduce_zero_label=True,
        image_root=os.path.join(base, "images", split),
        sem_seg_root=os.path.join(base, "annotations", split),
    )
