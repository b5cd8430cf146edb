"""Synthetic Cityscapes, PASCAL-Context and COCO-Stuff-10K splits in their real on-disk layouts.

Each writer stores labels the way the official data (or mmseg's converter) stores them --
Cityscapes as full ``labelIds`` turned into ``labelTrainIds`` by the real converter,
PASCAL-Context with 0 = background, COCO-Stuff-10K with 0 = unlabeled -- so the registered
loaders and their label conventions are what tests exercise. See ``det.data.datasets.synthetic``.
"""

from __future__ import annotations

import os

import numpy as np

from .builtin_meta import COCO_STUFF_CATEGORIES, distinct_colors
from .cityscapes import (
    _ID_TO_TRAIN_ID,
    CITYSCAPES_CLASSES,
    CITYSCAPES_COLORS,
    IMAGE_SUFFIX,
    LABEL_SUFFIX,
    RAW_LABEL_SUFFIX,
    prepare_cityscapes_train_ids,
)
from .coco_stuff_10k import LABEL_SUFFIX as STUFF_10K_LABEL_SUFFIX
from .pascal_context import LABEL_DIR, PASCAL_CONTEXT_59_CLASSES, SPLIT_DIR, VOC_DIR
from .synthetic_scenes import check_num_classes, check_split, draw_semseg_scene, save_jpeg, save_png
from .synthetic_scenes import scene_rng as _rng

__all__ = [
    "write_synthetic_cityscapes",
    "write_synthetic_coco_stuff_10k",
    "write_synthetic_pascal_context",
]

_CITIES = ("aachen", "bremen")
# Cityscapes label ids that are ignored in training (ego vehicle, out of roi, static, ...),
# written where the scene is unlabeled so the conversion has something to drop.
_IGNORED_IDS = (1, 3, 4)


def _spread(num_classes: int, total: int) -> list[int]:
    return [int(v) for v in np.linspace(0, total - 1, num_classes).round()]


def write_synthetic_cityscapes(
    root: str,
    split: str = "val",
    num_images: int = 4,
    image_size: tuple[int, int] = (64, 128),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes a Cityscapes split: ``<root>/cityscapes/{leftImg8bit,gtFine}/<split>/<city>/``,
    ``*_gtFine_labelIds.png`` with full label ids, converted to ``*_gtFine_labelTrainIds.png``
    by ``prepare_cityscapes_train_ids``. Images alternate between two cities.

    Args:
        root: dataset root.
        split: ``train`` or ``val``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of classes drawn, spread over the 19 training classes.

    Returns:
        the ``cityscapes`` folder.
    """
    check_split(split, ("train", "val"), "write_synthetic_cityscapes")
    check_num_classes(num_classes, CITYSCAPES_CLASSES, "write_synthetic_cityscapes")
    train_ids = _spread(num_classes, len(CITYSCAPES_CLASSES))
    label_ids = {t: i for i, t in _ID_TO_TRAIN_ID.items()}
    colors = [CITYSCAPES_COLORS[t] for t in train_ids]
    base = os.path.join(root, "cityscapes")
    for i in range(num_images):
        city = _CITIES[i % len(_CITIES)]
        stem = os.path.join(city, f"{city}_{i:06d}_000019")
        image, labels = draw_semseg_scene(
            _rng(seed, "cityscapes", split, i), *image_size, num_classes, colors
        )
        raw = np.full(labels.shape, _IGNORED_IDS[i % len(_IGNORED_IDS)], dtype=np.uint8)
        for k, t in enumerate(train_ids):
            raw[labels == k] = label_ids[t]
        save_png(image, os.path.join(base, "leftImg8bit", split, stem + IMAGE_SUFFIX))
        save_png(raw, os.path.join(base, "gtFine", split, stem + RAW_LABEL_SUFFIX))
        converted = os.path.join(base, "gtFine", split, stem + LABEL_SUFFIX)
        if os.path.exists(converted):
            os.remove(converted)  # stale output of an earlier call with other arguments
    prepare_cityscapes_train_ids(base, (split,))
    return base


def write_synthetic_pascal_context(
    root: str,
    split: str = "val",
    num_images: int = 4,
    image_size: tuple[int, int] = (96, 128),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes a PASCAL-Context split in mmseg's VOC2010 layout: ``JPEGImages/``,
    ``SegmentationClassContext/`` (0 = background, class c of the 59 stored as c + 1) and
    ``ImageSets/SegmentationContext/<split>.txt``. Unlabeled scene parts become background.

    Args:
        root: dataset root.
        split: ``train`` or ``val``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of classes drawn, spread over the 59 classes.

    Returns:
        the ``VOCdevkit/VOC2010`` folder.
    """
    check_split(split, ("train", "val"), "write_synthetic_pascal_context")
    check_num_classes(num_classes, PASCAL_CONTEXT_59_CLASSES, "write_synthetic_pascal_context")
    class_ids = _spread(num_classes, len(PASCAL_CONTEXT_59_CLASSES))
    colors = [distinct_colors(1, offset=c)[0] for c in class_ids]
    base = os.path.join(root, VOC_DIR)
    offset = 0 if split == "train" else 5000
    stems = []
    for i in range(num_images):
        stem = f"2008_{offset + i:06d}"
        image, labels = draw_semseg_scene(
            _rng(seed, "pascal_context", split, i), *image_size, num_classes, colors
        )
        raw = np.zeros(labels.shape, dtype=np.uint8)
        for k, c in enumerate(class_ids):
            raw[labels == k] = c + 1
        save_jpeg(image, os.path.join(base, "JPEGImages", stem + ".jpg"))
        save_png(raw, os.path.join(base, LABEL_DIR, stem + ".png"))
        stems.append(stem)
    split_file = os.path.join(base, SPLIT_DIR, f"{split}.txt")
    os.makedirs(os.path.dirname(split_file), exist_ok=True)
    with open(split_file, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in stems))
    return base


def write_synthetic_coco_stuff_10k(
    root: str,
    split: str = "test2014",
    num_images: int = 4,
    image_size: tuple[int, int] = (96, 128),
    seed: int = 0,
    num_classes: int = 6,
) -> str:
    """Writes a COCO-Stuff-10K split in mmseg's layout: ``images/<split>/*.jpg`` and
    ``annotations/<split>/*_labelTrainIds.png`` (0 = unlabeled, class c of the 171 stored as
    c + 1).

    Args:
        root: dataset root.
        split: ``train2014`` or ``test2014``.
        num_images, image_size, seed: as in ``write_synthetic_coco``.
        num_classes: number of classes drawn, spread over the 171 classes.

    Returns:
        the ``coco_stuff10k`` folder.
    """
    check_split(split, ("train2014", "test2014"), "write_synthetic_coco_stuff_10k")
    check_num_classes(num_classes, COCO_STUFF_CATEGORIES, "write_synthetic_coco_stuff_10k")
    contiguous = _spread(num_classes, len(COCO_STUFF_CATEGORIES))
    colors = [COCO_STUFF_CATEGORIES[c]["color"] for c in contiguous]
    base = os.path.join(root, "coco_stuff10k")
    for i in range(num_images):
        stem = f"COCO_{split}_{i + 1:012d}"
        image, labels = draw_semseg_scene(
            _rng(seed, "coco_stuff_10k", split, i), *image_size, num_classes, colors
        )
        raw = np.zeros(labels.shape, dtype=np.uint8)
        for k, c in enumerate(contiguous):
            raw[labels == k] = c + 1
        save_jpeg(image, os.path.join(base, "images", split, stem + ".jpg"))
        save_png(raw, os.path.join(base, "annotations", split, stem + STUFF_10K_LABEL_SUFFIX))
    return base
